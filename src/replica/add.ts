// `pgfort replica add NAME` (and the replicas of `pgfort up`): role, slot, container in replica mode.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { objectName } from "../docker/labels";
import { ConfigError, ContainerError } from "../errors";
import { SECRETS, type HostFacts } from "../cluster/plan";
import { ensureSecrets, readSecret } from "../cluster/state";
import { readTopology } from "../cluster/topology";
import { upNode, type NodeUpResult } from "../cluster/up";
import { planReplicaSpec, slotName, validateReplicaName } from "./plan";
import { dropSlot, ensureReplicationRole, ensureSlot, waitStreaming } from "./replication";

const STREAMING_TIMEOUT_MS = 120_000;

/**
 * Creates (or, with `existingIsError: false`, brings up to date) replica NAME of the current
 * primary, and returns once the primary shows it streaming. On failure nothing it created stays:
 * no container, no volume, no slot.
 */
export async function addReplica(
  docker: DockerClient,
  loaded: LoadedConfig,
  facts: HostFacts,
  name: string,
  options: { existingIsError: boolean },
): Promise<NodeUpResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  validateReplicaName(name, topology.primary);
  const primary = objectName(config.cluster, topology.primary);
  const container = objectName(config.cluster, name);
  const existed = await docker.containerExists(container);
  if (existed && options.existingIsError) {
    throw new ConfigError(`${container} already exists`, `choose another name, or remove it first: pgfort replica remove ${name}`);
  }
  const primaryInfo = await docker.inspectContainerIfExists(primary);
  if (!primaryInfo?.State.Running) {
    throw new ContainerError(`the primary ${primary} is not running, so ${name} has nothing to replicate from`, "start it with pgfort up");
  }
  await ensureSecrets(stateDir);
  await ensureReplicationRole(docker, primary, await readSecret(stateDir, SECRETS.replication.name));
  const slot = slotName(name);
  const slotCreated = await ensureSlot(docker, primary, slot);
  try {
    const result = await upNode(docker, loaded, facts, planReplicaSpec(config, name, topology.primary), `replicas.${name}.resources`);
    await waitStreaming(docker, primary, container, slot, STREAMING_TIMEOUT_MS);
    return result;
  } catch (error) {
    if (!existed) await removeNewReplica(docker, container);
    if (slotCreated) await dropSlot(docker, primary, slot).catch(() => undefined);
    throw error;
  }
}

async function removeNewReplica(docker: DockerClient, container: string): Promise<void> {
  await docker.removeContainer(container);
  await docker.removeVolume(`${container}-data`);
  await docker.removeVolume(`${container}-wal`);
}
