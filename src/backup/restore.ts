// Restores a backup into a new server of the cluster (`restore --as NAME`). The source cluster is
// never touched: a new container with new volumes, on the cluster network.
import { rm } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels, objectName, type Role } from "../docker/labels";
import { nodeVolumes } from "../docker/names";
import { DATA_DIR } from "../cluster/plan";
import { readHostFacts, upNode } from "../cluster/up";
import type { Check } from "./checksums";
import { ownerLabels } from "../lifecycle/owner";
import { Releasers } from "../lifecycle/releasers";
import { writeJsonFileAtomic } from "../state/json-file";
import type { BackupManifest } from "./manifest";
import { handOffRestore, type HandOffListener, type RestoreResult } from "../handoff/backup";
import type { RecoveryTarget } from "../wal/recovery-target";

export interface RestoreOptions {
  node: string;
  role: Extract<Role, "restore">;
  /** --target: another target than backups.target. */
  targetUrl?: string | undefined;
  /** The job's events (progress, info, warnings), as the backup commands show them. */
  listener?: HandOffListener;
  /** Physical: replay archived WAL to this point before the server starts (restore --to …). */
  recovery?: RecoveryTarget | undefined;
  /** Physical: restore a backup sorted under other collation rules and rebuild its indexes (restore --reindex). */
  reindex?: boolean | undefined;
  /** Published port of the restored server (restore --as only). */
  port?: number;
  /** Aborting it (Ctrl-C) stops the restore and removes the server, its volumes and job containers. */
  signal?: AbortSignal | undefined;
}

export interface RestoredServer {
  container: string;
  volumes: string[];
  checks: Check[];
  recovery?: RestoreResult["recovery"];
}

/**
 * The host's half: the new server's volumes and container; the data half (sha256 of every file,
 * then the tools fed from the target) is a job in the agent image (src/jobs/restore.ts), handed
 * over by handOffRestore. On failure everything it created is removed; on success the server runs
 * as <cluster>-<node>.
 */
export async function restoreBackup(docker: DockerClient, loaded: LoadedConfig, manifest: BackupManifest, options: RestoreOptions): Promise<RestoredServer> {
  const { signal } = options;
  signal?.throwIfAborted();
  const container = objectName(loaded.config.cluster, options.node);
  const dataVolumes = nodeVolumes(loaded.config.cluster, options.node, loaded.config.image.volumeSuffix);
  const volumes = Object.values(dataVolumes);
  const facts = await readHostFacts(docker, loaded);
  const spec = {
    node: options.node,
    role: options.role,
    resources: loaded.config.primary.resources,
    settings: loaded.config.primary.settings,
    ...(options.port ? { port: options.port } : {}),
  };
  const handOver = { id: manifest.id, targetUrl: options.targetUrl, signal, ...options.listener };
  // The server is started by upNode, which takes no signal: on abort its container is removed at
  // once (its health wait then ends), and we wait for upNode to settle before removing the rest.
  let serverUp: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> = Promise.resolve();
  const startServer = async () => {
    serverUp = upNode(docker, loaded, facts, spec, "primary.resources");
    const stop = () => void (stopping = docker.removeContainer(container).catch(() => undefined));
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await serverUp;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    signal?.throwIfAborted();
  };
  try {
    // The volumes first, labelled with their owner: the reaper can tell a dead run's volumes
    // (upNode finds them and keeps them; its server container follows its volumes' owner).
    const labels = { ...clusterLabels(loaded.config.cluster, options.role, options.node), ...ownerLabels() };
    for (const volume of volumes) await docker.ensureVolume(volume, labels);
    let checks: Check[];
    let recovery: RestoreResult["recovery"];
    if (manifest.kind === "physical") {
      ({ checks, recovery } = await handOffRestore(docker, loaded, { ...handOver, dataVolume: dataVolumes.data, dataDir: DATA_DIR, recovery: options.recovery, reindex: options.reindex }));
      await startServer();
    } else {
      await startServer();
      ({ checks } = await handOffRestore(docker, loaded, { ...handOver, server: container }));
    }
    checks.push({ name: "server starts", ok: true, detail: `${container} is healthy` });
    if (options.role === "restore") await markRestored(loaded, options.node, manifest.id);
    return { container, volumes, checks, ...(recovery ? { recovery } : {}) };
  } catch (error) {
    // Two removals of one container at once: the second fails with 409; let the first finish.
    await serverUp.catch(() => undefined);
    await stopping;
    await removeRestored(docker, loaded, options.node);
    throw signal?.aborted ? signal.reason : error;
  }
}

/**
 * A `restore --as` server is kept after success although its volumes name an owner that exits:
 * this marker (beside its conf.d, removed with it) tells the reaper it is finished, not a leftover.
 */
export const RESTORED_MARKER = "restored.json";

async function markRestored(loaded: LoadedConfig, node: string, id: string): Promise<void> {
  await writeJsonFileAtomic(path.join(loaded.stateDir, node, RESTORED_MARKER), { id, restoredAt: new Date().toISOString() });
}

export async function removeRestored(docker: DockerClient, loaded: LoadedConfig, node: string): Promise<void> {
  const container = objectName(loaded.config.cluster, node);
  // Every step attempted, the container first (it holds the volumes), the first error kept.
  const releasers = new Releasers();
  releasers.add(() => rm(path.join(loaded.stateDir, node), { recursive: true, force: true }));
  for (const volume of Object.values(nodeVolumes(loaded.config.cluster, node, loaded.config.image.volumeSuffix)).reverse()) releasers.add(() => docker.removeVolume(volume));
  releasers.add(() => docker.removeContainer(container));
  await releasers.release();
}
