// `pgfort compose`: the cluster of pgfort.yaml as a Compose project — the base file is what `pgfort
// up` creates (the same container specs, through ./service.ts), the dev override publishes the
// ports and logs every statement. Pure: config and facts in, the two files' objects and the files
// they bind-mount (conf.d, the pooler's config) out.
import path from "node:path";
import type { Config } from "../config/schema";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, LABEL_UPSTREAM } from "../docker/labels";
import { networkName, nodeVolumes, socketsVolumeName } from "../docker/names";
import { planAgentContainer, type AgentContainerInputs } from "../cluster/agent-container";
import { DATA_DIR, planNode, primarySpec, SECRETS, SECRETS_DIR, type HostFacts, type NodePlan, type NodeSpec } from "../cluster/plan";
import { planPooler } from "../pooler/plan";
import { planReplicaSpec } from "../replica/plan";
import { planPorts, planService, type ComposeService } from "./service";

type Healthcheck = NonNullable<ContainerCreateOptions["Healthcheck"]>;

export const COMPOSE_FILES = { base: "compose.yaml", dev: "compose.dev.yaml" } as const;
/** The project's own secrets directory (0700; files 0644 in it: Compose bind-mounts them, the container's uid must read them). */
export const COMPOSE_SECRETS_DIR = "secrets";
const NETWORK_KEY = "net";
const PRIMARY = "primary";

/** The dev override's server command: every statement, connection and disconnection in the log. */
export const DEV_SERVER_COMMAND = ["postgres", "-c", "log_statement=all", "-c", "log_connections=on", "-c", "log_disconnections=on"];

export interface ComposeInputs {
  facts: HostFacts;
  /** The cluster image's HEALTHCHECK: a node's container has it from the image, the service says it. */
  imageHealthcheck: Healthcheck | undefined;
  /** The file names in the project's secrets directory. */
  secrets: readonly string[];
  /** The agent's container inputs, as `up` computes them (its config digest, env, target). */
  agent: Omit<AgentContainerInputs, "imageId">;
  /** Host entries of the agent (an S3 endpoint on the host's loopback is reached as host.docker.internal). */
  agentExtraHosts?: readonly string[];
}

export interface ComposeProject {
  base: Record<string, unknown>;
  dev: Record<string, unknown>;
  /** Files the services bind-mount, by their path in the project directory. */
  files: Map<string, string>;
  /** The project name (the cluster's), written to the project's .env as COMPOSE_PROJECT_NAME. */
  name: string;
}

/** Compose interpolates `${…}` in every value: a literal `$` (the image's healthcheck has `${PGPORT:-5432}`) is written `$$`. */
export function escapeInterpolation<T>(value: T): T {
  if (typeof value === "string") return value.replace(/\$/g, "$$$$") as T;
  if (Array.isArray(value)) return value.map(escapeInterpolation) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, escapeInterpolation(item)])) as T;
  return value;
}

/** Where a node's conf.d sits in the project. */
export function composeConfDir(node: string): string {
  return `${node}/conf.d`;
}

export function planComposeProject(config: Config, stateDir: string, inputs: ComposeInputs): ComposeProject {
  const { cluster } = config;
  const replicaPassword = `PGFORT_REPLICATION_PASSWORD_FILE=${SECRETS_DIR}/${SECRETS.replication.name}`;
  // No pgfort runs beside a Compose project's first start: the primary makes the replication role
  // and each replica its slot (images/postgres/docker-entrypoint.sh), as `up` would have.
  const specs: NodeSpec[] = [
    { ...primarySpec(config), extraEnv: [replicaPassword] },
    ...config.replicas.map((replica) => {
      const spec = planReplicaSpec(config, replica.name, PRIMARY);
      return { ...spec, extraEnv: [...(spec.extraEnv ?? []), "PGFORT_CREATE_SLOT=1"] };
    }),
  ];
  const nodes = specs.map((spec) => planNode(config, stateDir, inputs.facts, spec));
  const files = new Map<string, string>();
  const bindSources = new Map<string, string>();
  for (const node of nodes) {
    bindSources.set(node.confDir, `./${composeConfDir(node.node)}`);
    for (const [name, content] of node.confD) files.set(`${composeConfDir(node.node)}/${name}`, content);
  }
  const pooler = config.pooler ? planPooler(config, config.pooler, stateDir, PRIMARY, inputs.facts.imageId) : undefined;
  if (pooler) {
    bindSources.set(pooler.configDir, "./pooler");
    for (const [name, content] of pooler.files) files.set(`pooler/${name}`, content);
  }
  const agent = planAgentContainer(config, { ...inputs.agent, imageId: undefined });
  const names = {
    volumeKey: (volume: string) => (volume.startsWith(`${cluster}-`) ? volume.slice(cluster.length + 1) : volume),
    bindSource: (source: string) => bindSources.get(source),
    networkKey: NETWORK_KEY,
    secrets: inputs.secrets,
  };
  const afterPrimary = { depends_on: { [PRIMARY]: { condition: "service_healthy" } } };
  const services: Record<string, ComposeService> = {};
  for (const node of nodes) {
    services[node.node] = { ...planService(node.create, names, inputs.imageHealthcheck), ...(node.role === "primary" ? {} : afterPrimary) };
  }
  if (pooler) services["pooler"] = { ...withoutAnonymousData(planService(pooler.create, names)), ...afterPrimary };
  services["agent"] = {
    ...withoutAnonymousData(planService(agent.create, names)),
    ...(inputs.agentExtraHosts?.length ? { extra_hosts: [...inputs.agentExtraHosts] } : {}),
    ...afterPrimary,
  };
  const base = {
    services,
    volumes: planVolumes(config, nodes, agent.scratchVolume, names.volumeKey),
    networks: { [NETWORK_KEY]: { name: networkName(cluster), labels: clusterLabels(cluster, "primary", "net") } },
    secrets: Object.fromEntries(inputs.secrets.map((name) => [name, { file: `./${path.posix.join(COMPOSE_SECRETS_DIR, name)}` }])),
  };
  return { base: escapeInterpolation(base), dev: escapeInterpolation(planDevOverride(nodes, pooler?.create, agent.create)), files, name: cluster };
}

/**
 * The image declares VOLUME /var/lib/postgresql/data: a container that mounts nothing there gets an
 * anonymous volume, which `pgfort down` removes with the container but `docker compose down` keeps
 * (one more empty volume per `down` and `up`). The pooler and the agent get a small tmpfs there.
 */
function withoutAnonymousData(service: ComposeService): ComposeService {
  const volumes = (service["volumes"] as Array<{ target?: string }> | undefined) ?? [];
  if (volumes.some((volume) => volume.target === DATA_DIR)) return service;
  return { ...service, tmpfs: [...((service["tmpfs"] as string[] | undefined) ?? []), `${DATA_DIR}:rw,nosuid,nodev,noexec,size=1m`] };
}

/** Every named volume with its engine name and pgfort's labels, so `pgfort down --volumes` and `status` find them. */
function planVolumes(config: Config, nodes: readonly NodePlan[], scratch: string, key: (volume: string) => string): Record<string, unknown> {
  const { cluster } = config;
  const volumes: Record<string, unknown> = {};
  for (const node of nodes) {
    const labels = { ...clusterLabels(cluster, node.role, node.node), ...(node.role === "replica" ? { [LABEL_UPSTREAM]: PRIMARY } : {}) };
    for (const volume of Object.values(nodeVolumes(cluster, node.node, config.image.volumeSuffix))) volumes[key(volume)] = { name: volume, labels };
  }
  volumes[key(socketsVolumeName(cluster))] = { name: socketsVolumeName(cluster), labels: clusterLabels(cluster, "sockets", "sockets") };
  volumes[key(scratch)] = { name: scratch, labels: clusterLabels(cluster, "agent", "agent") };
  return volumes;
}

/** compose.dev.yaml: the ports `up` publishes, and the servers' statements in their logs. */
function planDevOverride(nodes: readonly NodePlan[], pooler: ContainerCreateOptions | undefined, agent: ContainerCreateOptions): Record<string, unknown> {
  const services: Record<string, ComposeService> = {};
  for (const node of nodes) {
    const ports = planPorts(node.create);
    services[node.node] = { ...(ports.length > 0 ? { ports } : {}), command: DEV_SERVER_COMMAND };
  }
  if (pooler) services["pooler"] = { ports: planPorts(pooler) };
  services["agent"] = { ports: planPorts(agent) };
  return { services };
}
