// `engine: swarm` (issue 14): what the swarm holds for a cluster — the overlay network, the
// secrets and every server's conf.d in the swarm's store (named by their content's digest, so a
// change is a new object and the services are updated to it), and one service per server, pinned
// to its node. The servers are the ones `up` plans (src/cluster/plan.ts), made self-sufficient as
// in a Compose project: the primary makes the replication role at init, each replica its slot.
// Pure: config, topology and facts in; objects and specs out.
import { createHash } from "node:crypto";
import type { Config } from "../config/schema";
import type { ContainerCreateOptions, Dockerode } from "../docker/client";
import { clusterLabels, LABEL_CLUSTER } from "../docker/labels";
import { networkName, objectName } from "../docker/names";
import { planNode, primarySpec, SECRETS, SECRETS_DIR, type HostFacts, type NodePlan, type NodeSpec } from "../cluster/plan";
import { planReplicaSpec } from "../replica/plan";
import { ConfigError } from "../errors";
import path from "node:path";
import type { SwarmAgentPlan } from "./agent";
import type { SwarmPoolerPlan } from "./pooler";
import { confDTarget, planSwarmService, type FileReference, type PlannedService } from "./service";

/** Label of every secret and config: which file it holds (the name is the digest). */
export const LABEL_FILE = "pgfort.file";
const SECRET_MODE = 0o400;
const CONFIG_MODE = 0o444;

export type StoreKind = "secret" | "config";

export interface StoredPlan {
  kind: StoreKind;
  name: string;
  data: string;
  labels: Record<string, string>;
}

export interface MemberPlan {
  /** The node name in pgfort (primary, r1). */
  node: string;
  /** The swarm node (hostname) it is pinned to. */
  swarmNode: string;
  plan: NodePlan;
  /** 0: a former primary, fenced by a promotion, kept (with its volumes) but never started. */
  replicas: number;
  secrets: FileReference[];
  configs: FileReference[];
  resourcesPath: string;
}

/** A service pinned beside the primary (the agent, the pooler): the container `up` would make there. */
export interface PinnedServicePlan {
  create: ContainerCreateOptions;
  swarmNode: string;
  secrets: FileReference[];
  configs: FileReference[];
}

export interface SwarmClusterPlan {
  network: { name: string; labels: Record<string, string>; encrypted: boolean };
  stored: StoredPlan[];
  members: MemberPlan[];
  /** The agent's service, when it runs on this swarm (src/swarm/agent.ts). */
  agent: PinnedServicePlan | undefined;
  /** The pooler's service, when the config has one (src/swarm/pooler.ts). */
  pooler: PinnedServicePlan | undefined;
}

export interface SwarmPlanInputs {
  facts: HostFacts;
  /** The servers' secret files by name (passwords, TLS), as the secrets volume would hold them. */
  secrets: ReadonlyMap<string, string>;
  /** The node that is the primary (topology.json): `primary` until a promotion. */
  primary: string;
  /** The agent (planSwarmAgent), or undefined when none runs: then WAL archiving is off. */
  agent?: SwarmAgentPlan | undefined;
  pooler?: SwarmPoolerPlan | undefined;
}

/** A stored object's name: the cluster and the content's digest (names are at most 64 characters). */
export function storedName(cluster: string, kind: StoreKind, data: string): string {
  const digest = createHash("sha256").update(`${kind}\0${data}`).digest("hex").slice(0, 16);
  return `${cluster}-${kind === "secret" ? "s" : "c"}-${digest}`;
}

/** A secret or config of the cluster holding `file`, named by its content. */
export function planStored(cluster: string, kind: StoreKind, file: string, data: string): StoredPlan {
  return { kind, name: storedName(cluster, kind, data), data, labels: { ...clusterLabels(cluster, "secrets", kind), [LABEL_FILE]: file } };
}

/** The swarm node a server of the config is pinned to. */
export function swarmNodeOf(config: Config, node: string): string {
  const pinned = node === "primary" ? config.primary.node : config.replicas.find((replica) => replica.name === node)?.node;
  if (!pinned) throw new ConfigError(`${node} is not pinned to a swarm node`, node === "primary" ? "set primary.node in pgfort.yaml" : `set node: for replica ${node} in pgfort.yaml`);
  return pinned;
}

export function planSwarmCluster(clusterConfig: Config, stateDir: string, inputs: SwarmPlanInputs): SwarmClusterPlan {
  // Without an agent nothing takes the WAL: archiving would only fill pg_wal up to wal.maxPending.
  const config: Config = inputs.agent ? clusterConfig : { ...clusterConfig, wal: { ...clusterConfig.wal, archive: false } };
  const { cluster } = config;
  const stored = new Map<string, StoredPlan>();
  const store = (kind: StoreKind, file: string, data: string): string => {
    const object = planStored(cluster, kind, file, data);
    stored.set(object.name, object);
    return object.name;
  };
  const secretReferences = (files: ReadonlyMap<string, string>): FileReference[] =>
    [...files].sort(([a], [b]) => a.localeCompare(b)).map(([file, data]) => ({ objectName: store("secret", file, data), objectId: "", target: file, mode: SECRET_MODE }));
  const secrets = secretReferences(inputs.secrets);
  const replicaPassword = `PGFORT_REPLICATION_PASSWORD_FILE=${SECRETS_DIR}/${SECRETS.replication.name}`;
  const servers = ["primary", ...config.replicas.map((replica) => replica.name)];
  const members: MemberPlan[] = [];
  for (const node of servers) {
    const spec: NodeSpec =
      node === inputs.primary
        ? { ...primarySpec(config), node, extraEnv: [replicaPassword] }
        : withSelfManagedSlot(planReplicaSpec(config, node, inputs.primary));
    const plan = planNode(config, stateDir, inputs.facts, spec);
    const configs = [...plan.confD].map(([file, data]) => ({ objectName: store("config", `${node}/${file}`, data), objectId: "", target: confDTarget(file), mode: CONFIG_MODE }));
    members.push({
      node,
      swarmNode: swarmNodeOf(config, node),
      plan,
      // The primary of the config, after a promotion: fenced, never started again by `up`.
      replicas: node === "primary" && inputs.primary !== "primary" ? 0 : 1,
      secrets,
      configs,
      resourcesPath: node === "primary" ? "primary.resources" : `replicas.${node}.resources`,
    });
  }
  const agent = inputs.agent ? { create: inputs.agent.create, swarmNode: inputs.agent.swarmNode, secrets: secretReferences(inputs.agent.secrets), configs: [] } : undefined;
  const pooler = inputs.pooler
    ? {
        create: inputs.pooler.create,
        swarmNode: inputs.pooler.swarmNode,
        secrets,
        configs: poolerConfigReferences(inputs.pooler, (file, data) => store("config", file, data)),
      }
    : undefined;
  return {
    network: { name: networkName(cluster), labels: clusterLabels(cluster, "primary", "net"), encrypted: config.swarm.encrypted },
    stored: [...stored.values()],
    members,
    agent,
    pooler,
  };
}

/** A replica on a swarm has no pgfort beside it to make its slot or re-point it: it does both itself. */
function withSelfManagedSlot(spec: NodeSpec): NodeSpec {
  return { ...spec, extraEnv: [...(spec.extraEnv ?? []), "PGFORT_CREATE_SLOT=1"] };
}

/** A member's service, with the stored objects' ids filled in. */
export function planMemberService(member: MemberPlan, image: string, ids: ReadonlyMap<string, string>): PlannedService {
  const withId = (reference: FileReference): FileReference => ({ ...reference, objectId: ids.get(reference.objectName) ?? "" });
  return planSwarmService(member.plan.create, {
    image,
    node: member.swarmNode,
    secrets: member.secrets.map(withId),
    configs: member.configs.map(withId),
    replicas: member.replicas,
    resourcesPath: member.resourcesPath,
  });
}

/** The pooler's files as configs (stored under `pooler/<file>`), where PgBouncer reads them. */
export function poolerConfigReferences(pooler: SwarmPoolerPlan, store: (file: string, data: string) => string): FileReference[] {
  return [...pooler.files].map(([target, data]) => ({ objectName: store(`pooler/${path.basename(target)}`, data), objectId: "", target, mode: CONFIG_MODE }));
}

/** A pinned service (the agent, the pooler), with the stored objects' ids filled in. */
export function planPinnedService(pinned: PinnedServicePlan, image: string, ids: ReadonlyMap<string, string>, resourcesPath: string): PlannedService {
  const withId = (reference: FileReference): FileReference => ({ ...reference, objectId: ids.get(reference.objectName) ?? "" });
  return planSwarmService(pinned.create, {
    image,
    node: pinned.swarmNode,
    secrets: pinned.secrets.map(withId),
    configs: pinned.configs.map(withId),
    replicas: 1,
    resourcesPath,
  });
}

/** The swarm's registry (images reach the nodes from it): on the manager pgfort talks to, its port published there. */
export function planRegistryService(cluster: string, image: string, managerNodeId: string, port: number): Dockerode.ServiceSpec {
  const labels = clusterLabels(cluster, "registry", "registry");
  return {
    Name: objectName(cluster, "registry"),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        Labels: labels,
        ReadOnly: true,
        Mounts: [{ Type: "volume", Source: objectName(cluster, "registry-data"), Target: REGISTRY_STORAGE, VolumeOptions: { Labels: labels } }],
        ...({ CapabilityDrop: ["ALL"] } as object),
      },
      RestartPolicy: { Condition: "any", Delay: 5e9 },
      Placement: { Constraints: [`node.id == ${managerNodeId}`] },
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: { Mode: "dnsrr", Ports: [{ Protocol: "tcp", TargetPort: 5000, PublishedPort: port, PublishMode: "host" }] },
  } as unknown as Dockerode.ServiceSpec;
}

/** Where the registry image keeps its blobs (images/registry/config.yml). */
export const REGISTRY_STORAGE = "/var/lib/registry";

/** The filter of every swarm object of a cluster. */
export function swarmFilter(cluster: string): { label: string[] } {
  return { label: [`${LABEL_CLUSTER}=${cluster}`] };
}
