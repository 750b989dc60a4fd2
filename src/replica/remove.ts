// `pgfort replica remove NAME`: container, slot (a forgotten slot keeps WAL until the disk fills), volumes.
import { rm } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { objectName } from "../docker/labels";
import { nodeVolumes } from "../docker/names";
import { ConfigError, ContainerError, NotFoundError } from "../errors";
import { readTopology } from "../cluster/topology";
import { refuseComposeManaged } from "../cluster/compose-guard";
import { slotName } from "./plan";
import { dropSlot, slotExists } from "./replication";

export interface RemoveResult {
  container: string;
  slotDropped: boolean;
  volumes: string[];
}

/** Re-runnable: after a failure half-way (primary down), running it again finishes the job. */
export async function removeReplica(docker: DockerClient, loaded: LoadedConfig, name: string, options: { volumes: boolean }): Promise<RemoveResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  if (name === topology.primary) throw new ConfigError(`${name} is the primary`, "promote another replica first, or use pgfort down");
  await refuseComposeManaged(docker, config.cluster, topology.primary, "remove replicas", "remove it from pgfort.yaml, run pgfort compose again, then docker compose up -d --remove-orphans");
  const container = objectName(config.cluster, name);
  const primary = objectName(config.cluster, topology.primary);
  const slot = slotName(name);
  const primaryRunning = Boolean((await docker.inspectContainerIfExists(primary))?.State.Running);
  const exists = await docker.containerExists(container);
  const hasSlot = primaryRunning && (await slotExists(docker, primary, slot));
  const volumes = Object.values(nodeVolumes(config.cluster, name, config.image.volumeSuffix));
  const hasVolumes = options.volumes && (await Promise.all(volumes.map((volume) => docker.volumeExists(volume)))).some(Boolean);
  if (!exists && !hasSlot && !hasVolumes) throw new NotFoundError(`there is no replica ${name} in cluster ${config.cluster}`, "pgfort status lists the replicas");

  await docker.stopContainer(container, 60);
  await docker.removeContainer(container);
  if (!primaryRunning) {
    throw new ContainerError(
      `${container} is removed, but its slot ${slot} could not be dropped: the primary ${primary} is not running`,
      `start the primary (pgfort up) and run pgfort replica remove ${name} again; a forgotten slot keeps WAL until the disk fills`,
    );
  }
  await dropSlot(docker, primary, slot);
  if (options.volumes) {
    for (const volume of volumes) await docker.removeVolume(volume);
    await rm(path.join(stateDir, name), { recursive: true, force: true });
  }
  return { container, slotDropped: hasSlot, volumes: options.volumes ? volumes : [] };
}
