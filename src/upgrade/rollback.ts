// `pgfort upgrade --rollback | --finalize` (issue 12). Rollback: the new major's containers and
// volumes removed, the old major's volumes (kept stopped since the upgrade) started again with the
// old image, as they were when writes stopped; writes made since are lost. Finalize: the old
// major's volumes and conf.d removed; from then on the new major is all there is.
import { rm } from "node:fs/promises";
import path from "node:path";
import { loadConfig, type LoadedConfig } from "../config/load";
import { writeMajorState, type MajorState } from "../config/major-state";
import type { DockerClient } from "../docker/client";
import { clusterFilter } from "../docker/labels";
import { confDirOf } from "../cluster/plan";
import { readTopology, writeTopology } from "../cluster/topology";
import { agentContainerName, containerName } from "../docker/names";
import { UpgradeError } from "../errors";
import { upCluster } from "../orchestrate/up";
import type { UpgradeListener } from "./run";

export interface RollbackResult {
  cluster: string;
  from: number;
  to: number;
  removedVolumes: string[];
}

function previousOf(loaded: LoadedConfig): NonNullable<MajorState["previous"]> & { current: MajorState["current"]; state: MajorState } {
  const state = loaded.major;
  if (!state?.previous) {
    throw new UpgradeError(
      state ? `the upgrade to PostgreSQL ${state.current.major} is finalized: no older major is kept` : `cluster ${loaded.config.cluster} was never upgraded`,
      "nothing to roll back or finalize",
    );
  }
  return { ...state.previous, current: state.current, state };
}

/** The current generation's volumes (`<cluster>-<node>-data<suffix>`, `-wal<suffix>`): an upgrade's suffix is never empty. */
export function generationVolumes(volumes: readonly string[], cluster: string, suffix: string): string[] {
  if (suffix === "") return [];
  return volumes.filter((name) => name.startsWith(`${cluster}-`) && (name.endsWith(`-data${suffix}`) || name.endsWith(`-wal${suffix}`)));
}

export async function rollbackUpgrade(docker: DockerClient, loaded: LoadedConfig, listener: UpgradeListener = {}): Promise<RollbackResult> {
  const { config, stateDir } = loaded;
  const previous = previousOf(loaded);
  const info = (message: string) => listener.onInfo?.(message);
  info(`removing the PostgreSQL ${previous.current.major} containers`);
  const containers = [...nodesOf(loaded).map((node) => containerName(config.cluster, node)), agentContainerName(config.cluster)];
  await Promise.all(containers.map((name) => docker.stopContainer(name, 60)));
  for (const name of containers) await docker.removeContainer(name);
  const { volumes } = await docker.listLabelled(clusterFilter(config.cluster));
  const removed = generationVolumes(volumes, config.cluster, previous.current.volumeSuffix);
  for (const volume of removed) await docker.removeVolume(volume);
  await removeConfDirs(stateDir, nodesOf(loaded), previous.current.volumeSuffix);
  await writeMajorState(stateDir, {
    current: { major: previous.major, tag: previous.tag, volumeSuffix: previous.volumeSuffix },
    highestTimeline: previous.state.highestTimeline,
  });
  // The kept generation's primary is its node "primary" (an upgrade starts from no other): a
  // promotion on the new major since does not carry over to the old volumes.
  if ((await readTopology(stateDir)).primary !== "primary") await writeTopology(stateDir, { primary: "primary" });
  info(`starting PostgreSQL ${previous.major} (${previous.tag}) on its kept volumes`);
  const reloaded = await loadConfig(loaded.file, loaded.baseDir);
  await upCluster(docker, reloaded, { onInfo: info, onWarning: (message) => listener.onWarning?.(message) });
  return { cluster: config.cluster, from: previous.current.major, to: previous.major, removedVolumes: removed };
}

export async function finalizeUpgrade(docker: DockerClient, loaded: LoadedConfig, listener: UpgradeListener = {}): Promise<RollbackResult> {
  const previous = previousOf(loaded);
  const { stateDir } = loaded;
  const removed: string[] = [];
  for (const volume of previous.volumes) {
    if (!(await docker.volumeExists(volume))) continue;
    listener.onInfo?.(`removing volume ${volume} (PostgreSQL ${previous.major})`);
    await docker.removeVolume(volume);
    removed.push(volume);
  }
  await removeConfDirs(stateDir, nodesOf(loaded), previous.volumeSuffix);
  await writeMajorState(stateDir, { ...previous.state, previous: undefined });
  return { cluster: loaded.config.cluster, from: previous.major, to: previous.current.major, removedVolumes: removed };
}

/** The cluster's servers: the primary and the config's replicas. */
function nodesOf(loaded: LoadedConfig): string[] {
  return ["primary", ...loaded.config.replicas.map((replica) => replica.name)];
}

/** A generation's rendered conf.d of each node (cluster/plan.ts confDirOf). */
async function removeConfDirs(stateDir: string, nodes: readonly string[], suffix: string): Promise<void> {
  for (const node of nodes) {
    const confDir = confDirOf(stateDir, node, suffix);
    await rm(confDir, { recursive: true, force: true });
    // A suffixed generation's directory (`primary-pg17`) is its own; an unsuffixed one may hold other state.
    if (suffix !== "") await rm(path.dirname(confDir), { recursive: true, force: true });
  }
}
