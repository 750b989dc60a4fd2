// `pgfort up` with `engine: swarm`: the plan of ./plan.ts carried out through the manager's API —
// the images pushed to the swarm's registry, the overlay network, the secrets and configs, one
// service per server, the agent and the pooler beside the primary — then waits until every
// service's task runs. Idempotent: a service whose
// spec is unchanged is not touched; one whose spec changed is updated (stop-first: never two
// servers on one volume); secrets and configs no service uses any more are removed.
import { readFile } from "node:fs/promises";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import type { SwarmClient, SwarmNodeInfo, TaskInfo } from "../docker/swarm";
import { LABEL_SPEC_HASH } from "../docker/labels";
import { agentContainerName } from "../docker/names";
import { agentImageTag } from "../agent/contract";
import { agentCredentials, syncSecretCopies } from "../cluster/agent";
import { AGENT_NODE } from "../cluster/agent-container";
import { hashSpec } from "../cluster/plan";
import { secretsDir } from "../cluster/secrets";
import { serverSecretFiles } from "../cluster/secrets-volume";
import { ensureSecrets } from "../cluster/state";
import { readTopology } from "../cluster/topology";
import { prepareHostFacts, type UpListener } from "../cluster/up";
import { isLoopbackUrl, planS3Access } from "../handoff/s3-access";
import { syncPoolerAuth } from "../pooler/auth";
import { POOLER_NODE, poolerContainerName } from "../pooler/plan";
import { prepareTls } from "../tls/cluster";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { SwarmError } from "../errors";
import { planSwarmAgent, swarmAgentAbsence, type SwarmAgentPlan } from "./agent";
import { planMemberService, planPinnedService, planSwarmCluster, swarmFilter, swarmNodeOf, type SwarmClusterPlan } from "./plan";
import { planSwarmPooler } from "./pooler";
import { publishImage } from "./registry";
import type { PlannedService } from "./service";

export type ServiceOutcome = "created" | "updated" | "unchanged";

export interface SwarmServiceResult {
  service: string;
  node: string;
  swarmNode: string;
  outcome: ServiceOutcome;
  replicas: number;
}

export interface SwarmUpResult {
  image: string;
  services: SwarmServiceResult[];
  warnings: string[];
}

/** The manager's swarm client, or an error that says how to get one. */
export async function managerOf(docker: DockerClient): Promise<SwarmClient> {
  const swarm = docker.swarm();
  const state = await swarm.state();
  if (state.localState !== "active") {
    throw new SwarmError("engine: swarm, but this Docker engine is not part of a swarm", "run `docker swarm init` on the manager (and `docker swarm join` on the other nodes), or point DOCKER_HOST at a manager");
  }
  if (!state.manager) throw new SwarmError("this Docker engine is a swarm worker: only a manager deploys services", "point DOCKER_HOST at a manager (docker node ls on one lists them)");
  return swarm;
}

/** Every node the config pins a server to must be in the swarm and ready. */
export function checkPinnedNodes(plan: SwarmClusterPlan, nodes: readonly SwarmNodeInfo[]): void {
  for (const member of plan.members) {
    if (member.replicas === 0) continue;
    const node = nodes.find((candidate) => candidate.hostname === member.swarmNode);
    if (!node) {
      throw new SwarmError(`${member.node} is pinned to swarm node ${member.swarmNode}, which is not in the swarm`, `use one of ${nodes.map((candidate) => candidate.hostname).join(", ")} (docker node ls), or join ${member.swarmNode} to the swarm`);
    }
    if (node.state !== "ready") throw new SwarmError(`swarm node ${member.swarmNode} (${member.node}) is ${node.state}`, `bring it back, or pin ${member.node} to another node (its data stays in volumes on ${member.swarmNode})`);
  }
}

export async function upSwarm(docker: DockerClient, loaded: LoadedConfig, listener: UpListener = {}, env: NodeJS.ProcessEnv = process.env): Promise<SwarmUpResult> {
  const { config, stateDir } = loaded;
  const swarm = await managerOf(docker);
  const facts = await prepareHostFacts(docker, loaded, listener);
  const tls = await prepareTls(loaded);
  await ensureSecrets(stateDir);
  await syncPoolerAuth(stateDir, Boolean(config.pooler));
  const warnings: string[] = [];
  const directory = secretsDir(stateDir);
  await syncSecretCopies(loaded, directory);
  const secrets = await serverSecretFiles(stateDir, tls);
  const { primary } = await readTopology(stateDir);
  const absence = swarmAgentAbsence(config);
  const agent = absence ? undefined : await prepareAgent(loaded, directory, primary, secrets, env, warnings);
  const pooler = planSwarmPooler(config, stateDir, primary, swarmNodeOf(config, primary));
  const plan = planSwarmCluster(config, stateDir, { facts, secrets, primary, agent, pooler });
  checkPinnedNodes(plan, await swarm.nodes());
  if (absence) warnings.push(absence, ...(config.wal.archive ? ["wal.archive: off on a swarm without the agent (nothing would take the WAL; pg_wal would fill up to wal.maxPending)"] : []));

  const image = await publishImage(docker, swarm, config.cluster, config.image.tag, config.swarm.registryPort, listener);
  const agentImage = plan.agent ? await publishImage(docker, swarm, config.cluster, agentImageTag(config.image.tag), config.swarm.registryPort, listener) : undefined;
  await swarm.ensureOverlay(plan.network.name, plan.network.labels, plan.network.encrypted);
  const existing = new Map<string, string>();
  for (const kind of ["secret", "config"] as const) for (const object of await swarm.stored(kind, swarmFilter(config.cluster))) existing.set(object.name, object.id);
  const ids = new Map<string, string>();
  for (const object of plan.stored) ids.set(object.name, existing.get(object.name) ?? (await swarm.createStored(object.kind, object.name, object.data, object.labels)));

  const services: SwarmServiceResult[] = [];
  const apply = async (planned: PlannedService, node: string, swarmNode: string, replicas: number, serviceImage: string): Promise<void> => {
    for (const warning of planned.warnings) if (!warnings.includes(warning)) warnings.push(warning);
    const spec = planned.spec;
    const specHash = hashSpec(spec as never, serviceImage);
    spec.Labels = { ...spec.Labels, [LABEL_SPEC_HASH]: specHash };
    const name = String(spec.Name);
    const existing = await swarm.service(name);
    let outcome: ServiceOutcome = "unchanged";
    if (!existing) {
      // A fenced former primary is never created anew: only kept at zero.
      if (replicas === 0) return;
      await swarm.createService(spec);
      outcome = "created";
    } else if (existing.labels[LABEL_SPEC_HASH] !== specHash) {
      await swarm.updateService(name, existing.version, spec);
      outcome = "updated";
    }
    services.push({ service: name, node, swarmNode, outcome, replicas });
  };
  for (const member of plan.members) await apply(planMemberService(member, image, ids), member.node, member.swarmNode, member.replicas, image);
  if (plan.agent && agentImage) {
    await apply(planPinnedService(plan.agent, agentImage, ids, config.agent.resources ? "agent.resources" : "backups.resources"), AGENT_NODE, plan.agent.swarmNode, 1, agentImage);
  } else {
    await removeServiceIfAny(swarm, agentContainerName(config.cluster));
  }
  if (plan.pooler) await apply(planPinnedService(plan.pooler, image, ids, "pooler.resources"), POOLER_NODE, plan.pooler.swarmNode, 1, image);
  else await removeServiceIfAny(swarm, poolerContainerName(config.cluster));
  for (const service of services.filter((item) => item.replicas > 0)) await waitRunning(swarm, service.service, 300_000);
  await removeUnusedStored(swarm, config.cluster, new Set(plan.stored.map((object) => object.name)));
  return { image, services, warnings };
}

/**
 * What the agent's service is made of: the identity and prune credentials the config names, this
 * shell's S3 credentials (or those an earlier `up` kept), and the S3 endpoint as the nodes reach it.
 */
async function prepareAgent(loaded: LoadedConfig, directory: string, primary: string, serverSecrets: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv, warnings: string[]): Promise<SwarmAgentPlan> {
  const { config } = loaded;
  const credentials = await agentCredentials(directory, config.backups.target, env, { keep: true, command: "pgfort up", warnings });
  const access = planS3Access(config.backups.s3, undefined, env);
  if (access.endpoint && isLoopbackUrl(access.endpoint)) {
    warnings.push(`backups.s3.endpoint ${access.endpoint} is this host's loopback: the agent on swarm node ${swarmNodeOf(config, primary)} cannot reach it; set an address the nodes reach`);
  }
  return planSwarmAgent(loaded, {
    configText: loaded.file ? await readFile(loaded.file, "utf8") : undefined,
    primary,
    swarmNode: swarmNodeOf(config, primary),
    servers: ["primary", ...config.replicas.map((replica) => replica.name)].filter((node) => node !== "primary" || primary === "primary"),
    serverSecrets,
    credentials,
    s3Env: access.env,
  });
}

/** The agent of a config whose target became file://, the pooler of one that has none now: they hold no data. */
async function removeServiceIfAny(swarm: SwarmClient, name: string): Promise<void> {
  if (await swarm.service(name)) await swarm.removeService(name);
}

/** Removes the services and waits until their tasks (and so their containers) are gone. */
export async function removeServices(swarm: SwarmClient, names: readonly string[]): Promise<void> {
  for (const name of names) await swarm.removeService(name);
  await pollUntil(
    { timeoutMs: 120_000, intervalMs: 500 },
    async () => {
      for (const name of names) if ((await swarm.tasks(name)).length > 0) return NOT_YET;
      return done(undefined);
    },
    () => new SwarmError(`the tasks of ${names.join(", ")} are still there after 2 minutes`, "docker service ls and docker ps on the nodes, then run the command again"),
  );
}

/** Until the service's task runs; a task the swarm rejected (image not pulled, no node fits) fails at once with its error. */
export async function waitRunning(swarm: SwarmClient, service: string, timeoutMs: number): Promise<TaskInfo> {
  let last: TaskInfo | undefined;
  return pollUntil(
    { timeoutMs, intervalMs: 1000 },
    async () => {
      const tasks = (await swarm.tasks(service)).filter((task) => task.desiredState === "running").sort((a, b) => b.timestamp.localeCompare(a.timestamp));
      last = tasks[0];
      const running = tasks.find((task) => task.state === "running");
      if (running) return done(running);
      if (last?.state === "rejected" && /No such image|pull access|http: server gave HTTP response to HTTPS client/i.test(last.error ?? "")) {
        throw new SwarmError(`${service}'s node cannot pull the image: ${last.error ?? ""}`, "add the swarm's registry (its address is in the image name) to insecure-registries on every node and restart dockerd");
      }
      return NOT_YET;
    },
    async () => new SwarmError(`${service} has no running task after ${timeoutMs / 1000} s (last: ${last ? `${last.state}${last.error ? `: ${last.error}` : ""}` : "none"}); its log:\n${await swarm.serviceLogs(service)}`, `docker service ps --no-trunc ${service} says why`),
  );
}

/** Secrets and configs of the cluster not in `keep`: an older content no service uses now. */
async function removeUnusedStored(swarm: SwarmClient, cluster: string, keep: ReadonlySet<string>): Promise<void> {
  for (const kind of ["secret", "config"] as const) {
    for (const object of await swarm.stored(kind, swarmFilter(cluster))) if (!keep.has(object.name)) await swarm.removeStored(kind, object.id);
  }
}

export interface SwarmServiceStatus {
  service: string;
  role: string;
  /** Desired replicas: 0 for a fenced former primary. */
  replicas: number;
  /** The newest task meant to run: its state, node and error. */
  state: string;
  swarmNode: string;
  error: string | undefined;
}

/** Each service of the cluster with its newest task, from the manager (no exec: the tasks may be on other nodes). */
export async function swarmStatus(docker: DockerClient, cluster: string, primary: string): Promise<SwarmServiceStatus[]> {
  const swarm = await managerOf(docker);
  const nodes = await swarm.nodes();
  const result: SwarmServiceStatus[] = [];
  for (const service of await swarm.services(swarmFilter(cluster))) {
    const tasks = (await swarm.tasks(service.name)).sort((a, b) => b.timestamp.localeCompare(a.timestamp));
    const task = tasks.find((item) => item.desiredState === "running") ?? tasks[0];
    result.push({
      service: service.name,
      // The topology's primary is the primary, whatever role its service was created with.
      role: service.labels["pgfort.node"] === primary ? "primary" : service.labels["pgfort.role"] === "primary" ? "former primary" : (service.labels["pgfort.role"] ?? ""),
      replicas: Number(service.spec.Mode?.Replicated?.Replicas ?? 0),
      state: task ? task.state : "no task",
      swarmNode: nodes.find((node) => node.id === task?.nodeId)?.hostname ?? "",
      error: task?.error,
    });
  }
  return result.sort((a, b) => a.service.localeCompare(b.service));
}

export function formatSwarmService(status: SwarmServiceStatus): string {
  const where = status.swarmNode ? ` on ${status.swarmNode}` : "";
  if (status.replicas === 0) return `${status.service} [${status.role}]: fenced (scaled to zero; its last task ${status.state}${where})`;
  return `${status.service} [${status.role}]: ${status.state}${where}${status.error ? `: ${status.error}` : ""}`;
}
