// `pgfort replica remove NAME` with `engine: swarm`: the replica's service goes (its tasks seen
// gone), then its slot on the primary, dropped from a job service on the primary's node (pgfort
// cannot `docker exec` there), and with --volumes its volumes, removed by a job on its own node
// (a volume lives on its node). A replica still listed in pgfort.yaml comes back with the next
// `up`: the result says so. `replica add` has no swarm form: a replica on a swarm is pinned to a
// node, which pgfort.yaml says (replicas[].node), and `up` creates it.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels } from "../docker/labels";
import { objectName } from "../docker/names";
import { agentImageTag } from "../agent/contract";
import { ensureImage } from "../cluster/up";
import { readTopology } from "../cluster/topology";
import { slotName } from "../replica/plan";
import { ConfigError, NotFoundError } from "../errors";
import { runJob } from "./job";
import { swarmNodeOf } from "./plan";
import { runSql } from "./promote";
import { publishImage } from "./registry";
import { managerOf, removeServices } from "./up";

export interface SwarmRemoveResult {
  service: string;
  slotDropped: boolean;
  /** --volumes: what the job on the replica's node reported. */
  volumes: string | undefined;
  /** Still in pgfort.yaml: the next `up` creates it again. */
  stillConfigured: boolean;
}

export async function removeSwarmReplica(docker: DockerClient, loaded: LoadedConfig, name: string, options: { volumes: boolean }): Promise<SwarmRemoveResult> {
  const { config, stateDir } = loaded;
  const swarm = await managerOf(docker);
  const { primary } = await readTopology(stateDir);
  if (name === primary) throw new ConfigError(`${name} is the primary`, "promote another replica first, or use pgfort down");
  const service = objectName(config.cluster, name);
  const existing = await swarm.service(service);
  const configured = config.replicas.find((replica) => replica.name === name);
  if (!existing && !configured) throw new NotFoundError(`there is no replica ${name} in cluster ${config.cluster}`, "pgfort status lists the services");
  // Its node: from its service's placement, else from the config (a service already removed).
  const constraint = (existing?.spec.TaskTemplate as { Placement?: { Constraints?: string[] } } | undefined)?.Placement?.Constraints?.find((item) => item.startsWith("node.hostname == "));
  const node = constraint?.slice("node.hostname == ".length) ?? swarmNodeOf(config, name);
  if (existing) await removeServices(swarm, [service]);
  const slot = slotName(name);
  // The replica's tasks are gone, but its walsender may not know yet (a connection cut across the
  // overlay lasts until wal_sender_timeout): ended here, so the slot is free to drop.
  const dropped = await runSql(swarm, loaded, swarmNodeOf(config, primary), objectName(config.cluster, primary), [
    `DO $$ BEGIN FOR i IN 1..60 LOOP PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${slot}' AND active_pid IS NOT NULL; EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${slot}' AND active); PERFORM pg_sleep(0.5); END LOOP; END $$`,
    `SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = '${slot}'`,
  ]);
  let volumes: string | undefined;
  if (options.volumes) {
    await ensureImage(docker, loaded);
    const image = await publishImage(docker, swarm, config.cluster, agentImageTag(config.image.tag), config.swarm.registryPort);
    const { log } = await runJob(
      swarm,
      {
        name: objectName(config.cluster, `volumes-rm-${name}`),
        labels: clusterLabels(config.cluster, "verify", "volumes-rm"),
        image,
        // The engine's socket is root's: as in `down --volumes`, seconds, one thing.
        user: "0:0",
        args: ["swarm-node", "remove-volumes", config.cluster, "--node", name],
        mounts: [{ Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock" }],
        node,
      },
      1,
      300_000,
    );
    volumes = log.trim();
  }
  return { service, slotDropped: /^1$/m.test(dropped), volumes, stillConfigured: Boolean(configured) };
}
