// `primary.bootstrap: restore-latest` (seed 004): a primary whose data volume is gone comes back
// from the target instead of an empty initdb: the newest physical backup whose restore drill
// passed (an unverified one only when told to), then every archived WAL file, promoted on a new
// timeline. The volumes are filled before the server starts; a failure removes them, so the next
// `up` tries again from the start.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels } from "../docker/labels";
import { networkName, nodeVolumes } from "../docker/names";
import { NotFoundError } from "../errors";
import { DATA_DIR } from "../cluster/plan";
import { describeWindow, readWindow, windowBackups } from "../backup/pitr";
import { openTarget } from "../backup/targets/resolve";
import { handOffRestore, type HandOffListener, type RestoreResult } from "../handoff/backup";
import type { RecoverableWindow } from "../wal/window";
import { stat } from "node:fs/promises";
import path from "node:path";
import { SECRETS, secretsDir } from "../cluster/secrets";

export interface BootstrapResult {
  backupId: string;
  verified: boolean;
  window: RecoverableWindow;
  recovery: NonNullable<RestoreResult["recovery"]>;
}

export interface BootstrapOptions extends HandOffListener {
  /** `up --allow-unverified`: take the newest physical backup even without a passed drill. */
  allowUnverified?: boolean;
  /** Ctrl-C: the restore job stops and the volumes it was filling are removed. */
  signal?: AbortSignal | undefined;
}

/** Null when there is nothing to do: bootstrap is initdb, or the primary's data volume exists. */
export async function bootstrapPrimary(docker: DockerClient, loaded: LoadedConfig, options: BootstrapOptions = {}): Promise<BootstrapResult | null> {
  const { config } = loaded;
  if (config.primary.bootstrap !== "restore-latest") return null;
  const volumes = nodeVolumes(config.cluster, "primary", config.image.volumeSuffix);
  if (await docker.volumeExists(volumes.data)) return null;
  const target = openTarget(config.backups.target, loaded, { onWarning: (message) => options.onWarning?.(message) });
  const { entries, window } = await readWindow(target, config.cluster);
  const physical = windowBackups(entries).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  // A cluster that never ran here and has nothing in the target is new: initdb, said out loud.
  // One that ran here (its secrets exist) and finds nothing is a wrong target, not a new cluster.
  const ranHere = await stat(path.join(secretsDir(loaded.stateDir), SECRETS.superuser.name)).then(() => true, () => false);
  if (entries.length === 0 && window.files === 0 && !ranHere) {
    options.onInfo?.(`primary.bootstrap is restore-latest but ${target.url} holds nothing of ${config.cluster}: a new cluster, initialised empty`);
    return null;
  }
  const verified = physical.find((backup) => backup.entry.verified === "passed");
  const chosen = options.allowUnverified ? physical[0] : verified;
  if (!chosen) {
    throw new NotFoundError(
      physical.length === 0
        ? `primary.bootstrap is restore-latest, the primary's data volume ${volumes.data} is empty, and ${target.url} holds no physical backup of ${config.cluster}`
        : `primary.bootstrap is restore-latest and no physical backup of ${config.cluster} has passed a restore drill (newest: ${physical[0]?.id ?? "?"})`,
      physical.length === 0
        ? "set primary.bootstrap: initdb for a new, empty cluster, or point backups.target at the backups"
        : `verify one first (pgfort backup verify ${physical[0]?.id ?? "ID"}), or run pgfort up --allow-unverified`,
    );
  }
  options.onInfo?.(`the primary's data volume is empty (primary.bootstrap: restore-latest): restoring physical backup ${chosen.id}${chosen.entry.verified === "passed" ? " (drill passed)" : " (NOT verified)"} and all archived WAL; ${describeWindow(window)}`);
  const labels = clusterLabels(config.cluster, "primary", "primary");
  await docker.ensureNetwork(networkName(config.cluster), clusterLabels(config.cluster, "primary", "net"));
  for (const volume of Object.values(volumes)) await docker.ensureVolume(volume, labels);
  try {
    const { recovery } = await handOffRestore(docker, loaded, { ...options, id: chosen.id, dataVolume: volumes.data, dataDir: DATA_DIR, recovery: { kind: "latest" } });
    if (!recovery) throw new NotFoundError("the restore job reported no recovery", "rebuild the agent image (pgfort build)");
    return { backupId: chosen.id, verified: chosen.entry.verified === "passed", window, recovery };
  } catch (error) {
    for (const volume of Object.values(volumes)) await docker.removeVolume(volume).catch(() => undefined);
    throw error;
  }
}
