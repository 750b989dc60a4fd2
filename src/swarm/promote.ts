// `pgfort replica promote NAME` with `engine: swarm`. pgfort cannot `docker exec` into a task on
// another node, so the statements run in a one-shot job service on the overlay network, over TLS.
//   1. Fence: the former primary's service is scaled to zero, and its task is seen stopped. When
//      its node is down nothing can be seen: the command says so and asks. A node that comes back
//      does not start it (its service wants zero), and the stale task is shut down.
//   2. pg_promote() on the standby, then a write that proves it is the primary.
//   3. The other replicas' services name the new primary: each restarts, re-points
//      primary_conninfo, makes its slot there and follows the new timeline (the entrypoint's
//      follow_upstream).
import type { LoadedConfig } from "../config/load";
import type { DockerClient, Dockerode } from "../docker/client";
import { runJob } from "./job";
import type { SwarmClient } from "../docker/swarm";
import { clusterLabels, LABEL_SPEC_HASH } from "../docker/labels";
import { agentContainerName, containerName, networkName, objectName } from "../docker/names";
import { SECRETS, SECRETS_DIR, SUPERUSER } from "../cluster/plan";
import { TLS_CLIENT_ENV } from "../cluster/secrets";
import { readTopology, writeTopology } from "../cluster/topology";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { ConfigError, SwarmError } from "../errors";
import { managerOf, waitRunning } from "./up";
import { planStored, poolerConfigReferences, swarmFilter, swarmNodeOf, type StoredPlan } from "./plan";
import { planSwarmPooler } from "./pooler";
import { serviceConfigs } from "./service";
import { POOLER_CONFIG_DIR, poolerContainerName } from "../pooler/plan";

export interface SwarmPromoteResult {
  primary: string;
  former: string;
  /** Seen stopped; false: its node was down and the operator confirmed. */
  fenceVerified: boolean;
  followers: string[];
  /** The services pinned beside the primary (agent, pooler) moved to its node. */
  moved: Array<{ service: string; role: "agent" | "pooler"; swarmNode: string }>;
}

export async function promoteSwarm(docker: DockerClient, loaded: LoadedConfig, name: string, confirm: (question: string) => Promise<void>): Promise<SwarmPromoteResult> {
  const { config, stateDir } = loaded;
  const swarm = await managerOf(docker);
  const topology = await readTopology(stateDir);
  if (name === topology.primary) throw new ConfigError(`${name} is already the primary`, "nothing to do");
  const target = objectName(config.cluster, name);
  const former = objectName(config.cluster, topology.primary);
  const standby = await swarm.service(target);
  if (!standby) throw new SwarmError(`there is no service ${target}`, "run pgfort up first");
  await waitRunning(swarm, target, 30_000);

  const fenceVerified = await fence(swarm, former, confirm);
  const answer = await runSql(swarm, loaded, swarmNodeOf(config, name), target, ["SELECT pg_promote(true, 60)", "SELECT txid_current() > 0"]);
  if (!/^t$/m.test(answer)) throw new SwarmError(`${target} did not become writable after pg_promote: ${answer}`, `docker service logs ${target}`);
  await writeTopology(stateDir, { primary: name, promotedAt: new Date().toISOString() });

  // The other servers follow the new primary (a service update restarts each with its new upstream).
  const followers: string[] = [];
  for (const replica of config.replicas.filter((item) => item.name !== name)) {
    const service = await swarm.service(objectName(config.cluster, replica.name));
    if (!service) continue;
    const spec = repoint(service.spec, containerName(config.cluster, name));
    await swarm.updateService(service.name, service.version, spec);
    followers.push(service.name);
  }
  const moved = await movePinned(swarm, loaded, name, swarmNodeOf(config, name));
  return { primary: target, former, fenceVerified, followers, moved };
}

type PinnedSpec = Dockerode.ServiceSpec & { TaskTemplate: { Placement?: { Constraints?: string[] }; ContainerSpec: { Configs?: Array<Record<string, any>> } } };

/**
 * The services pinned beside the primary follow it to its node. The agent: there are the new
 * primary's socket and the spool its archive_command fills, so WAL archiving goes on; it finds
 * the primary by asking the servers (the next `up` gives it a config file naming the new one).
 * The pooler: its pgbouncer.ini names the new primary's socket (a new config object); it restarts
 * there, and its clients reconnect.
 */
async function movePinned(swarm: SwarmClient, loaded: LoadedConfig, primary: string, node: string): Promise<SwarmPromoteResult["moved"]> {
  const { config, stateDir } = loaded;
  const moved: SwarmPromoteResult["moved"] = [];
  const repin = (spec: Dockerode.ServiceSpec): PinnedSpec => {
    const next = structuredClone(spec) as PinnedSpec;
    next.TaskTemplate.Placement = { ...next.TaskTemplate.Placement, Constraints: [`node.hostname == ${node}`] };
    // Changed here: the next `up` plans the same and puts its own hash.
    next.Labels = { ...next.Labels, [LABEL_SPEC_HASH]: "" };
    return next;
  };
  const agent = await swarm.service(agentContainerName(config.cluster));
  if (agent) {
    await swarm.updateService(agent.name, agent.version, repin(agent.spec));
    moved.push({ service: agent.name, role: "agent", swarmNode: node });
  }
  const pooler = await swarm.service(poolerContainerName(config.cluster));
  const plan = planSwarmPooler(config, stateDir, primary, node);
  if (pooler && plan) {
    const existing = new Map((await swarm.stored("config", swarmFilter(config.cluster))).map((object) => [object.name, object.id]));
    const created: StoredPlan[] = [];
    const references = poolerConfigReferences(plan, (file, data) => {
      const object = planStored(config.cluster, "config", file, data);
      if (!existing.has(object.name)) created.push(object);
      return object.name;
    });
    for (const object of created) existing.set(object.name, await swarm.createStored("config", object.name, object.data, object.labels));
    const spec = repin(pooler.spec);
    const others = (spec.TaskTemplate.ContainerSpec.Configs ?? []).filter((item) => !String(item["File"]?.["Name"] ?? "").startsWith(`${POOLER_CONFIG_DIR}/`));
    spec.TaskTemplate.ContainerSpec.Configs = [...others, ...serviceConfigs(references.map((reference) => ({ ...reference, objectId: existing.get(reference.objectName) ?? "" })))];
    await swarm.updateService(pooler.name, pooler.version, spec);
    moved.push({ service: pooler.name, role: "pooler", swarmNode: node });
  }
  return moved;
}

/** Scales the former primary to zero and sees its task stop; when that cannot be seen (node down), asks. */
async function fence(swarm: SwarmClient, former: string, confirm: (question: string) => Promise<void>): Promise<boolean> {
  const service = await swarm.service(former);
  if (!service) return true;
  const spec = structuredClone(service.spec);
  spec.Mode = { Replicated: { Replicas: 0 } };
  if (service.spec.Mode?.Replicated?.Replicas !== 0) await swarm.updateService(former, service.version, spec);
  const nodes = await swarm.nodes();
  const stopped = await pollUntil(
    { timeoutMs: 90_000, intervalMs: 1000 },
    async () => {
      const tasks = await swarm.tasks(former);
      const live = tasks.filter((task) => ["running", "starting", "preparing", "assigned", "accepted", "pending", "new"].includes(task.state));
      if (live.length === 0) return done(true);
      // A task on a node that is down cannot report that it stopped.
      const unreachable = live.filter((task) => nodes.find((node) => node.id === task.nodeId)?.state !== "ready");
      if (unreachable.length === live.length) return done(false);
      return NOT_YET;
    },
    () => new SwarmError(`${former} was scaled to zero but its task still runs after 90 s`, `docker service ps ${former}; stop its container on its node before promoting`),
  );
  if (!stopped) {
    const down = nodes.filter((node) => node.state !== "ready").map((node) => node.hostname);
    await confirm(
      `could not verify that ${former} stopped: its node (${down.join(", ")}) is down. Its service is scaled to zero, so Swarm will not start it there again when the node comes back. Promote anyway?`,
    );
  }
  return stopped;
}

/** The replica's spec with its upstream changed; everything else as it was. */
function repoint(spec: Dockerode.ServiceSpec, upstream: string): Dockerode.ServiceSpec {
  const next = structuredClone(spec) as Dockerode.ServiceSpec & { TaskTemplate: { ContainerSpec: { Env?: string[] } } };
  const env = next.TaskTemplate.ContainerSpec.Env ?? [];
  next.TaskTemplate.ContainerSpec.Env = [...env.filter((entry) => !entry.startsWith("PGFORT_PRIMARY_HOST=")), `PGFORT_PRIMARY_HOST=${upstream}`];
  // Changed by hand here: the next `up` plans the same upstream (the topology) and puts its own hash.
  next.Labels = { ...next.Labels, [LABEL_SPEC_HASH]: "" };
  return next;
}

/**
 * Runs statements (each its own transaction) on `host` as the superuser, over TLS, from a job
 * service pinned to `node` (`pgfort-job run-sql`); returns what the last one printed.
 */
export async function runSql(swarm: SwarmClient, loaded: LoadedConfig, node: string, host: string, statements: readonly string[]): Promise<string> {
  const { config } = loaded;
  const server = await swarm.service(host);
  const containerSpec = server?.spec.TaskTemplate && "ContainerSpec" in server.spec.TaskTemplate ? server.spec.TaskTemplate.ContainerSpec : undefined;
  if (!containerSpec?.Image) throw new SwarmError(`there is no service ${host}`, "run pgfort up first");
  const secrets = (containerSpec.Secrets ?? []).filter((secret) => [SECRETS.superuser.name, "tls-ca.crt"].includes(String(secret.File?.Name)));
  const { log } = await runJob(
    swarm,
    {
      name: objectName(config.cluster, `job-${Date.now().toString(36)}`),
      labels: clusterLabels(config.cluster, "verify", "job"),
      image: containerSpec.Image,
      user: SUPERUSER,
      command: ["pgfort-job", "run-sql"],
      env: [
        `PGFORT_PGHOST=${host}`,
        `PGFORT_PGUSER=${SUPERUSER}`,
        `PGFORT_SECRET_FILE=${SECRETS_DIR}/${SECRETS.superuser.name}`,
        `PGFORT_SQL=${statements.join("\n")}`,
        ...TLS_CLIENT_ENV,
      ],
      mounts: [{ Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: 16 * 1024 * 1024 } }],
      secrets,
      network: networkName(config.cluster),
      node,
    },
    1,
    120_000,
  );
  return log;
}
