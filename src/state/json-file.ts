// Every JSON file pgfort reads back (state under .pgfort/, manifests and verdicts in a target) goes
// through here: a file that is absent, not JSON, or not of its schema is a result the caller decides
// about, never an exception thrown from JSON.parse. Writes are atomic and durable: a crash leaves the
// old file or the new one, never half of one (issue 9, item 3).
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";

export type JsonProblem = "absent" | "not-json" | "schema";

export type JsonReadResult<T> = { ok: true; value: T } | { ok: false; problem: JsonProblem; reason: string };

/** Parses text read from `name` (undefined: there was none); the reason names the file and what is wrong. */
export function parseJsonText<T>(text: string | undefined, schema: z.ZodType<T>, name: string): JsonReadResult<T> {
  if (text === undefined) return { ok: false, problem: "absent", reason: `${name} does not exist` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, problem: "not-json", reason: `${name} is not JSON (${text.length} bytes: ${detail})` };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "(top)"}: ${issue.message}`);
  const more = parsed.error.issues.length > 5 ? `; and ${parsed.error.issues.length - 5} more` : "";
  return { ok: false, problem: "schema", reason: `${name} is not a valid file of its kind (${issues.join("; ")}${more})` };
}

/** Reads and checks a local JSON file. Throws only when the file exists but cannot be read (permissions, I/O). */
export async function readJsonFile<T>(file: string, schema: z.ZodType<T>): Promise<JsonReadResult<T>> {
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (!isAbsent(error)) throw error;
  }
  return parseJsonText(text, schema, file);
}

/**
 * Writes `value` as JSON, atomically (writeTextFileAtomic).
 */
export async function writeJsonFileAtomic(file: string, value: unknown, options: { mode?: number } = {}): Promise<void> {
  await writeTextFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { mode: options.mode ?? 0o600 });
}

/**
 * Writes `text`: a temporary file in the same directory (rename is atomic only within a file
 * system), written, given `mode` whatever the umask, and fsynced, renamed over the file, then the
 * directory fsynced so that the rename itself survives a power loss.
 */
export async function writeTextFileAtomic(file: string, text: string, options: { mode: number }): Promise<void> {
  const directory = path.dirname(file);
  await mkdir(directory, { recursive: true });
  const temporary = path.join(directory, `.${path.basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const handle = await open(temporary, "wx", options.mode);
    try {
      await handle.writeFile(text);
      await handle.chmod(options.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isAbsent(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
