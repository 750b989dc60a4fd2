// `pgfort down [--volumes]` with `engine: swarm`: every service, secret, config and the network
// of the cluster, through the manager. Volumes live on their nodes and only a node's own engine
// removes them: with --volumes a global job (the agent image, which carries pgfort, with the
// node's engine socket) runs `pgfort swarm-node remove-volumes` on every node that is up; the
// registry's volume goes last, from the manager, once the registry that served the job is gone.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import type { SwarmClient } from "../docker/swarm";
import { clusterLabels } from "../docker/labels";
import { objectName } from "../docker/names";
import { agentImageTag } from "../agent/contract";
import { ensureImage } from "../cluster/up";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { SwarmError } from "../errors";
import { swarmFilter } from "./plan";
import { runJob } from "./job";
import { publishImage } from "./registry";
import { managerOf, removeServices } from "./up";

export interface SwarmDownResult {
  services: string[];
  secrets: number;
  configs: number;
  networks: string[];
  /** --volumes: the nodes that removed theirs, their reports ("removed …"), and the nodes that were down (their volumes stay). */
  volumes?: { nodes: string[]; log: string; nodesDown: string[] };
}

const REGISTRY = "registry";

export async function downSwarm(docker: DockerClient, loaded: LoadedConfig, options: { volumes: boolean }): Promise<SwarmDownResult> {
  const { cluster } = loaded.config;
  const swarm = await managerOf(docker);
  const filter = swarmFilter(cluster);
  const all = await swarm.services(filter);
  const registry = objectName(cluster, REGISTRY);
  const servers = all.filter((service) => service.name !== registry);
  await removeServices(swarm, servers.map((service) => service.name));
  const volumes = options.volumes ? await removeNodeVolumes(docker, swarm, loaded) : undefined;
  // Last, and by name: --volumes may have started the registry again (on this manager) for its job.
  await removeServices(swarm, [registry]);
  if (options.volumes) await removeRegistryVolume(docker, registry, objectName(cluster, "registry-data"));

  let secrets = 0;
  let configs = 0;
  for (const kind of ["secret", "config"] as const) {
    for (const object of await swarm.stored(kind, filter)) {
      await pollUntil({ timeoutMs: 60_000, intervalMs: 1000 }, async () => ((await swarm.removeStored(kind, object.id)) ? done(true) : NOT_YET), () => new SwarmError(`${kind} ${object.name} is still in use`, "docker service ls: remove the service that uses it, then run pgfort down again"));
      if (kind === "secret") secrets += 1;
      else configs += 1;
    }
  }
  const networks = await swarm.networks(filter);
  for (const network of networks) {
    await pollUntil(
      { timeoutMs: 60_000, intervalMs: 1000 },
      async () => {
        try {
          await swarm.removeNetwork(network);
          return done(undefined);
        } catch {
          return NOT_YET;
        }
      },
      () => new SwarmError(`network ${network} is still in use`, `docker network inspect ${network} names what is attached`),
    );
  }
  return { services: all.map((service) => service.name), secrets, configs, networks, ...(volumes ? { volumes } : {}) };
}


/** The global job that removes the cluster's volumes on every node that is up. */
async function removeNodeVolumes(docker: DockerClient, swarm: SwarmClient, loaded: LoadedConfig): Promise<NonNullable<SwarmDownResult["volumes"]>> {
  const { config } = loaded;
  await ensureImage(docker, loaded);
  const image = await publishImage(docker, swarm, config.cluster, agentImageTag(config.image.tag), config.swarm.registryPort);
  const nodes = await swarm.nodes();
  const up = nodes.filter((node) => node.state === "ready");
  const { tasks, log } = await runJob(
    swarm,
    {
      name: objectName(config.cluster, "volumes-rm"),
      labels: clusterLabels(config.cluster, "verify", "volumes-rm"),
      image,
      // The engine's socket is root's: the one job pgfort runs as root, for seconds, doing one thing.
      user: "0:0",
      args: ["swarm-node", "remove-volumes", config.cluster],
      mounts: [{ Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock" }],
    },
    up.length,
    300_000,
  );
  return {
    nodes: tasks.map((task) => nodes.find((node) => node.id === task.nodeId)?.hostname ?? task.nodeId).sort(),
    log,
    nodesDown: nodes.filter((node) => node.state !== "ready").map((node) => node.hostname),
  };
}

/**
 * The registry's volume, on this manager. The container of the removed registry service can
 * outlive its task (measured: still there a minute later, stopped): it is removed first.
 */
async function removeRegistryVolume(docker: DockerClient, service: string, volume: string): Promise<void> {
  let last: unknown;
  await pollUntil(
    { timeoutMs: 60_000, intervalMs: 1000 },
    async () => {
      try {
        const { containers } = await docker.listLabelled({ label: [`com.docker.swarm.service.name=${service}`] });
        for (const container of containers) await docker.removeContainer(container.Id);
        await docker.removeVolume(volume);
        return done(undefined);
      } catch (error) {
        last = error;
        return NOT_YET;
      }
    },
    () => new SwarmError(`cannot remove the registry's volume ${volume}: ${String(last)}`, `docker volume rm ${volume} on this manager once nothing uses it`),
  );
}
