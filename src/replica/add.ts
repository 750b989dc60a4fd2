// `pgfort replica add NAME` (and the replicas of `pgfort up`): role, slot, container in replica mode.
import { prepareTls, tlsOptions } from "../tls/cluster";
import { reloadServers } from "../tls/reload";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { containerName, nodeVolumes } from "../docker/names";
import { ConfigError, ContainerError } from "../errors";
import { SECRETS, type HostFacts } from "../cluster/plan";
import { readSecret } from "../cluster/state";
import { readTopology } from "../cluster/topology";
import { refuseComposeManaged } from "../cluster/compose-guard";
import { upNode, type NodeUpResult } from "../cluster/up";
import { planReplicaSpec, slotName, validateReplicaName } from "./plan";
import { dropSlot, ensureReplicationRole, ensureSlot, waitStreaming } from "./replication";
import { mustRecreate, recordedUpstream } from "./upstream";
import { syncSecretsVolume } from "../cluster/secrets-volume";

const STREAMING_TIMEOUT_MS = 120_000;

export interface AddReplicaOptions {
  existingIsError: boolean;
  onInfo?(message: string): void;
}

/**
 * Creates (or, with `existingIsError: false`, brings up to date) replica NAME of the current
 * primary, and returns once the primary shows it streaming. A replica whose data came from a
 * former primary is re-created from the current one (./upstream.ts). On failure nothing it created
 * stays: no container, no volume, no slot.
 */
export async function addReplica(
  docker: DockerClient,
  loaded: LoadedConfig,
  facts: HostFacts,
  name: string,
  options: AddReplicaOptions,
): Promise<NodeUpResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  validateReplicaName(name, topology.primary);
  await refuseComposeManaged(docker, config.cluster, topology.primary, "add replicas", "add it to replicas: in pgfort.yaml, run pgfort compose again, then docker compose up -d");
  const primary = containerName(config.cluster, topology.primary);
  const container = containerName(config.cluster, name);
  const info = await docker.inspectContainerIfExists(container);
  if (info && options.existingIsError) {
    throw new ConfigError(`${container} already exists`, `choose another name, or remove it first: pgfort replica remove ${name}`);
  }
  const primaryInfo = await docker.inspectContainerIfExists(primary);
  if (!primaryInfo?.State.Running) {
    throw new ContainerError(`the primary ${primary} is not running, so ${name} has nothing to replicate from`, "start it with pgfort up");
  }
  const upstream = recordedUpstream(config.cluster, {
    volumeLabels: await docker.volumeLabels(nodeVolumes(config.cluster, name, config.image.volumeSuffix).data),
    containerEnv: info?.Config.Env ?? undefined,
  });
  if (mustRecreate(topology.primary, upstream)) {
    options.onInfo?.(`${container} followed ${containerName(config.cluster, upstream ?? "")}: re-creating it from ${primary}`);
    await removeReplicaObjects(docker, config.cluster, name, config.image.volumeSuffix);
  }
  const existed = !mustRecreate(topology.primary, upstream) && info !== undefined;
  // Its name into the certificate: after a promotion of it, its peers verify it by that name.
  const tls = await prepareTls(loaded, [name]);
  await syncSecretsVolume(docker, config.cluster, config.image.tag, stateDir, tlsOptions(loaded));
  await ensureReplicationRole(docker, primary, await readSecret(stateDir, SECRETS.replication.name));
  const slot = slotName(name);
  const slotCreated = await ensureSlot(docker, primary, slot);
  try {
    const result = await upNode(docker, loaded, facts, planReplicaSpec(config, name, topology.primary), `replicas.${name}.resources`);
    await waitStreaming(docker, primary, container, slot, STREAMING_TIMEOUT_MS);
    if (tls.changed) await reloadServers(docker, config.cluster, tls.facts.fingerprint, new Set([container]));
    return result;
  } catch (error) {
    if (!existed) await removeReplicaObjects(docker, config.cluster, name, config.image.volumeSuffix);
    if (slotCreated) await dropSlot(docker, primary, slot).catch(() => undefined);
    throw error;
  }
}

/** The replica's container and volumes: all of it can be copied again from the primary. */
async function removeReplicaObjects(docker: DockerClient, cluster: string, name: string, generation: string): Promise<void> {
  await docker.removeContainer(containerName(cluster, name));
  for (const volume of Object.values(nodeVolumes(cluster, name, generation))) await docker.removeVolume(volume);
}
