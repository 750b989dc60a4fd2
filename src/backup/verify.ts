// `pgfort backup verify`: the restore drill. sha256 of every file, a real restore in a throwaway
// server, pg_amcheck over every database, row counts compared with the manifest (logical). A drill
// that runs to its end writes a new verdict file beside the backup; one stopped by an error (the
// engine gone, the container killed, a bug) writes nothing and throws a DrillError.
import { randomBytes } from "node:crypto";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { runAmcheck } from "./amcheck";
import { watchEngine } from "../docker/engine-watch";
import { CheckFailedError, type Check } from "./checksums";
import { checksOfFailure, drillError, writeVerdict, type VerifyResult } from "./drill-outcome";
import type { BackupManifest } from "./manifest";
import { countRows, removeRestored, restoreBackup } from "./restore";
import { compareRowCounts } from "./row-counts";
import type { BackupTarget } from "./targets/target";

export type { VerifyResult } from "./drill-outcome";
export { compareRowCounts } from "./row-counts";

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
    checks = checksOfFailure(error);
  } finally {
    engine.stop();
    await removeRestored(docker, loaded, node).catch(() => undefined); // the engine may be what failed; the reaper sweeps by label
  }
  signal?.throwIfAborted();
  return writeVerdict(target, directory, manifest.id, checks);
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
