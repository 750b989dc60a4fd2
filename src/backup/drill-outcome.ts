// How a restore drill ends, wherever it ran (a server container of the host CLI, or a scratch
// server inside a job container): the checks that ran become a verdict file written once beside
// the backup; a drill stopped by anything but a failed check writes nothing and is a DrillError.
import { randomBytes } from "node:crypto";
import { DrillError, PgfortError } from "../errors";
import { VERSION } from "../version";
import { CheckFailedError, type Check } from "./checksums";
import { verdictFileName } from "./layout";
import type { BackupTarget } from "./targets/target";
import type { Verdict } from "./verdict";

export interface VerifyResult {
  verdict: Verdict;
  /** Where the verdict was written. */
  location: string;
}

/** The checks of a drill that stopped at a failed check (it keeps the ones that passed before). */
export function checksOfFailure(error: CheckFailedError): Check[] {
  return error.checks.some((check) => !check.ok) ? error.checks : [...error.checks, { name: "restore", ok: false, detail: error.message }];
}

/** A new verify-<stamp>-<random>.json beside the backup: never overwrites an earlier verdict. */
export async function writeVerdict(target: BackupTarget, directory: string, id: string, checks: Check[], now = new Date()): Promise<VerifyResult> {
  const verdict: Verdict = {
    formatVersion: 2,
    id,
    status: checks.length > 0 && checks.every((check) => check.ok) ? "passed" : "failed",
    verifiedAt: now.toISOString(),
    checks,
    tool: { name: "pgfort", version: VERSION },
  };
  const key = `${directory}${verdictFileName(now, randomBytes(3).toString("hex"))}`;
  await target.writeText(key, `${JSON.stringify(verdict, null, 2)}\n`);
  return { verdict, location: target.locate(key) };
}

/** Why a drill stopped, kept as the cause; the message says that no verdict was recorded. */
export function drillError(id: string, error: unknown): DrillError {
  const cause = error instanceof Error ? error.message : String(error);
  const hint = error instanceof PgfortError ? `${error.hint}; then run the drill again` : "run the drill again; if it keeps failing this way, report it with the message above";
  return new DrillError(`the drill of backup ${id} stopped before a verdict: ${cause}. No verdict was recorded; an earlier one stands`, hint, { cause: error });
}
