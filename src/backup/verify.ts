// `pgfort backup verify`: the restore drill. sha256 of every file, a real restore in a throwaway
// server, pg_amcheck over every database, row counts compared with the manifest (logical). A drill
// that runs to its end writes a new verdict file beside the backup; one stopped by an error (the
// engine gone, the container killed, a bug) writes nothing and throws a DrillError.
import { randomBytes } from "node:crypto";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { DrillError, PgfortError } from "../errors";
import { VERSION } from "../version";
import { runAmcheck } from "./amcheck";
import { watchEngine } from "../docker/engine-watch";
import { CheckFailedError, type Check } from "./checksums";
import { verdictFileName } from "./layout";
import type { BackupManifest } from "./manifest";
import { countRows, removeRestored, restoreBackup } from "./restore";
import type { BackupTarget } from "./targets/target";
import type { Verdict } from "./verdict";

export interface VerifyResult {
  verdict: Verdict;
  /** Where the verdict was written. */
  location: string;
}

export async function verifyBackup(
  docker: DockerClient,
  loaded: LoadedConfig,
  target: BackupTarget,
  directory: string,
  manifest: BackupManifest,
  onInfo?: (message: string) => void,
  options: { signal?: AbortSignal } = {},
): Promise<VerifyResult> {
  const { signal } = options;
  const node = `verify-${randomBytes(3).toString("hex")}`;
  let checks: Check[];
  const engine = watchEngine(docker);
  const drill = runDrill(docker, loaded, target, directory, manifest, node, onInfo, signal);
  drill.catch(() => undefined); // when the engine is lost first, the drill may still reject later
  try {
    checks = await Promise.race([drill, engine.lost]);
  } catch (error) {
    // An interrupted drill is no verdict: nothing is written.
    if (signal?.aborted) throw signal.reason;
    if (!(error instanceof CheckFailedError)) throw drillError(manifest.id, error);
    checks = error.checks.some((check) => !check.ok) ? error.checks : [...error.checks, { name: "restore", ok: false, detail: error.message }];
  } finally {
    engine.stop();
    await removeRestored(docker, loaded, node).catch(() => undefined); // the engine may be what failed; the reaper sweeps by label
  }
  signal?.throwIfAborted();
  const verdict: Verdict = {
    formatVersion: 2,
    id: manifest.id,
    status: checks.length > 0 && checks.every((check) => check.ok) ? "passed" : "failed",
    verifiedAt: new Date().toISOString(),
    checks,
    tool: { name: "pgfort", version: VERSION },
  };
  const key = `${directory}${verdictFileName(new Date(verdict.verifiedAt), randomBytes(3).toString("hex"))}`;
  await target.writeText(key, `${JSON.stringify(verdict, null, 2)}\n`);
  return { verdict, location: target.locate(key) };
}

async function runDrill(
  docker: DockerClient,
  loaded: LoadedConfig,
  target: BackupTarget,
  directory: string,
  manifest: BackupManifest,
  node: string,
  onInfo?: (message: string) => void,
  signal?: AbortSignal,
): Promise<Check[]> {
  const restored = await restoreBackup(docker, loaded, target, directory, manifest, { node, role: "verify", ...(onInfo ? { onInfo } : {}), ...(signal ? { signal } : {}) });
  const checks = [...restored.checks];
  onInfo?.("running pg_amcheck over every database of the restored server");
  checks.push(await runAmcheck(docker, restored.container, Math.ceil(loaded.config.primary.resources.cpus ?? 1)));
  if (manifest.kind === "logical") checks.push(...compareRowCounts(manifest, await countRows(docker, restored.container, manifest.databases)));
  return checks;
}

/** Why a drill stopped, kept as the cause; the message says that no verdict was recorded. */
function drillError(id: string, error: unknown): DrillError {
  const cause = error instanceof Error ? error.message : String(error);
  const hint = error instanceof PgfortError ? `${error.hint}; then run the drill again` : "run the drill again; if it keeps failing this way, report it with the message above";
  return new DrillError(`the drill of backup ${id} stopped before a verdict: ${cause}. No verdict was recorded; an earlier one stands`, hint, { cause: error });
}

/** Logical: every table's rows must equal the counts taken in the dump's own snapshot. */
export function compareRowCounts(manifest: BackupManifest, restored: Record<string, Record<string, number>>): Check[] {
  const checks: Check[] = [];
  for (const [database, expected] of Object.entries(manifest.rowCounts ?? {})) {
    const actual = restored[database] ?? {};
    const wrong = Object.entries(expected)
      .filter(([table, rows]) => actual[table] !== rows)
      .map(([table, rows]) => `${table}: ${rows} in the backup, ${actual[table] ?? "missing"} restored`);
    const extra = Object.keys(actual).filter((table) => !(table in expected));
    const rows = Object.values(expected).reduce((a, b) => a + b, 0);
    checks.push({
      name: `row counts ${database}`,
      ok: wrong.length === 0 && extra.length === 0,
      detail: wrong.length || extra.length ? [...wrong, ...extra.map((table) => `${table}: not in the backup`)].join("; ") : `${Object.keys(expected).length} tables, ${rows} rows match`,
    });
  }
  return checks;
}
