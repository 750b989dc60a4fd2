/** Label keys carried by every Docker object pgfort creates; cleanup and status find objects by them. */
export const LABEL_CLUSTER = "pgfort.cluster";
export const LABEL_ROLE = "pgfort.role";
export const LABEL_NODE = "pgfort.node";
/** Hash of the container's desired spec: `up` recreates a container only when it changes. */
export const LABEL_SPEC_HASH = "pgfort.spec-hash";

/** `secrets`: the created-never-started container that holds the secrets volume and its digest. */
/** Digest of the secret files last copied into the secrets volume (src/cluster/secrets-volume.ts). */
export const LABEL_SECRETS_DIGEST = "pgfort.secrets-digest";

/** On a replica's volumes: the node its data was base-backed-up from (src/replica/upstream.ts). */
export const LABEL_UPSTREAM = "pgfort.upstream";

/** On the agent: digest of its config file's content (src/cluster/agent-container.ts), so a changed config re-creates it. */
export const LABEL_AGENT_CONFIG_DIGEST = "pgfort.agent-config-digest";

/** `agent`: the long-running <cluster>-agent container (issue 10); never a throwaway. */
/** `pooler`: the <cluster>-pooler container running PgBouncer (issue 13). */
/** `registry`: on a swarm, the <cluster>-registry service the nodes pull the images from (issue 14). */
export type Role = "primary" | "replica" | "backup" | "restore" | "verify" | "secrets" | "sockets" | "agent" | "pooler" | "registry";

export function clusterLabels(cluster: string, role: Role, node: string): Record<string, string> {
  return { [LABEL_CLUSTER]: cluster, [LABEL_ROLE]: role, [LABEL_NODE]: node };
}

// Names live in ./names; re-exported because many modules import objectName from here.
export { objectName } from "./names";

/** A Docker API filter that matches every object of a cluster. */
export function clusterFilter(cluster: string): { label: string[] } {
  return { label: [`${LABEL_CLUSTER}=${cluster}`] };
}

/**
 * Who started a throwaway object (job container, verify or restore server, their volumes): the
 * reaper removes it once that process is gone. The start time tells a reused pid from the owner.
 */
export const LABEL_OWNER_HOST = "pgfort.owner-host";
export const LABEL_OWNER_PID = "pgfort.owner-pid";
export const LABEL_OWNER_STARTED = "pgfort.owner-started";

/** Roles of throwaway objects: the only ones the reaper ever considers. */
export const THROWAWAY_ROLES = ["backup", "restore", "verify"] as const satisfies readonly Role[];

/** The label Docker Compose puts on what it creates: a container with it belongs to a Compose project. */
export const LABEL_COMPOSE_PROJECT = "com.docker.compose.project";

/** The Compose project that made a container, if one did. */
export function composeProjectOf(info: { Config: { Labels?: Record<string, string> | null } } | undefined): string | undefined {
  return info?.Config.Labels?.[LABEL_COMPOSE_PROJECT] || undefined;
}
