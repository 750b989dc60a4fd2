// Checks every file of a backup against its manifest by streaming it from the target: nothing is
// restored from a backup whose bytes are not exactly the ones written.
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BackupError } from "../errors";
import { Measure } from "./job";
import type { BackupFile, BackupManifest } from "./manifest";
import type { BackupTarget } from "./targets/target";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Which files a check reads: all of them, or (`except`) all but those checked on their way into a tool. */
export interface FileSelection {
  except?(file: BackupFile): boolean;
}

export async function checkFiles(target: BackupTarget, directory: string, manifest: BackupManifest, signal?: AbortSignal, selection: FileSelection = {}): Promise<Check[]> {
  const checks: Check[] = [];
  for (const file of manifest.files) {
    if (selection.except?.(file)) continue;
    const measure = new Measure();
    try {
      await pipeline(await target.read(`${directory}${file.name}`), measure, new Writable({ write: (_chunk, _encoding, done) => done() }), signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      checks.push({ name: `sha256 ${file.name}`, ok: false, detail: `cannot read it: ${(error as Error).message}` });
      continue;
    }
    checks.push(measuredCheck(file, measure));
  }
  return checks;
}

/** The check of a file whose bytes went through `measure` (whole: read to its end). */
export function measuredCheck(file: BackupFile, measure: Measure): Check {
  const sha256 = measure.sha256();
  const ok = sha256 === file.sha256 && measure.bytes === file.bytes;
  return {
    name: `sha256 ${file.name}`,
    ok,
    detail: ok ? `${file.bytes} bytes, sha256 matches` : `expected ${file.bytes} bytes sha256 ${file.sha256}, found ${measure.bytes} bytes sha256 ${sha256}`,
  };
}

/**
 * A check that ran and said no (a sha256 mismatch, a tool that exited with its own error): the
 * drill's verdict is "failed". Anything else that stops a drill is an error, not a verdict.
 */
export class CheckFailedError extends BackupError {
  constructor(
    message: string,
    hint: string,
    readonly checks: Check[],
  ) {
    super(message, hint);
  }
}

/** Every file's sha256 checked; any mismatch is a CheckFailedError naming them (with `hint`), else the passed checks. */
export async function requireIntactFiles(target: BackupTarget, directory: string, manifest: BackupManifest, hint: string, signal?: AbortSignal, selection: FileSelection = {}): Promise<Check[]> {
  const checks = await checkFiles(target, directory, manifest, signal, selection);
  requirePassed(manifest, checks, hint);
  return checks;
}

/** A CheckFailedError naming the failed ones, when any failed. */
export function requirePassed(manifest: BackupManifest, checks: Check[], hint: string): void {
  const bad = checks.filter((check) => !check.ok);
  if (bad.length > 0) throw new CheckFailedError(`backup ${manifest.id} is damaged: ${bad.map((check) => `${check.name}: ${check.detail}`).join("; ")}`, hint, checks);
}
