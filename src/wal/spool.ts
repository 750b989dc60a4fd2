// The agent's side of the archive spool (the protocol is in images/postgres/pgfort-archive-wal.sh):
// one directory per server in the cluster's socket volume, `<server>/archive/`. Answers are
// written whole (a temporary name, then a rename), so the server never reads half of one.
import { readdir, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseWalFileName } from "./names";

/** The agent's mark in the socket volume: the servers' archive_command fails at once without a fresh one. */
export const AGENT_ALIVE_FILE = ".agent-alive";

export interface SpoolEntry {
  server: string;
  name: string;
  /** The whole copy of the WAL file (ready), or the skip mark (skipped). */
  path: string;
  state: "ready" | "skipped";
}

export interface SpoolScan {
  entries: SpoolEntry[];
  /** Per server: WAL bytes waiting in its pg_wal when it last handed a file over, and that file. */
  pending: Map<string, { bytes: number; name: string; at: Date }>;
}

const ENTRY = /^(.+)\.(ready|skipped)$/;

export async function touchAlive(socketsDir: string): Promise<void> {
  const file = path.join(socketsDir, AGENT_ALIVE_FILE);
  const now = new Date();
  await utimes(file, now, now).catch(async () => writeFile(file, ""));
}

export async function removeAlive(socketsDir: string): Promise<void> {
  await rm(path.join(socketsDir, AGENT_ALIVE_FILE), { force: true });
}

/** Every server's ready and skipped files, oldest WAL first (history files sort before their timeline's segments). */
export async function scanSpool(socketsDir: string): Promise<SpoolScan> {
  const entries: SpoolEntry[] = [];
  const pending: SpoolScan["pending"] = new Map();
  const servers = await readdir(socketsDir, { withFileTypes: true }).catch(() => []);
  for (const server of servers.filter((entry) => entry.isDirectory())) {
    const spool = path.join(socketsDir, server.name, "archive");
    const names = await readdir(spool).catch(() => [] as string[]);
    for (const file of names) {
      const match = ENTRY.exec(file);
      if (!match?.[1] || !parseWalFileName(match[1])) continue;
      entries.push({ server: server.name, name: match[1], path: path.join(spool, file), state: match[2] as SpoolEntry["state"] });
    }
    if (names.includes("pending")) {
      const [bytes = "", name = ""] = (await readFile(path.join(spool, "pending"), "utf8").catch(() => "")).trim().split(" ");
      if (/^\d+$/.test(bytes)) pending.set(server.name, { bytes: Number(bytes), name, at: new Date() });
    }
  }
  entries.sort((a, b) => (a.name === b.name ? a.server.localeCompare(b.server) : a.name < b.name ? -1 : 1));
  return { entries, pending };
}

async function writeWhole(file: string, text: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, file);
}

function spoolFile(entry: SpoolEntry, suffix: string): string {
  return path.join(path.dirname(entry.path), `${entry.name}.${suffix}`);
}

/** Stored: the copy goes first, then the answer (a crash between leaves neither: the server retries, the store finds the file there). */
export async function answerDone(entry: SpoolEntry): Promise<void> {
  await rm(entry.path, { force: true });
  await writeWhole(spoolFile(entry, "done"), "");
}

/** Not stored: the reason on one line; the copy stays for the next try. */
export async function answerFailed(entry: SpoolEntry, reason: string): Promise<void> {
  await writeWhole(spoolFile(entry, "failed"), `${reason.replace(/\s+/g, " ").slice(0, 500)}\n`);
}

/** A skip mark's content: "<UTC time> <pending bytes>". */
export async function readSkipped(entry: SpoolEntry): Promise<{ skippedAt: string | null; pendingBytes: number | null }> {
  const [at = "", bytes = ""] = (await readFile(entry.path, "utf8").catch(() => "")).trim().split(" ");
  return { skippedAt: at || null, pendingBytes: /^\d+$/.test(bytes) ? Number(bytes) : null };
}

export async function clearSkipped(entry: SpoolEntry): Promise<void> {
  await rm(entry.path, { force: true });
}
