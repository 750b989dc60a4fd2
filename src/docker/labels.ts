/** Label keys carried by every Docker object pgfort creates; cleanup and status find objects by them. */
export const LABEL_CLUSTER = "pgfort.cluster";
export const LABEL_ROLE = "pgfort.role";
export const LABEL_NODE = "pgfort.node";
/** Hash of the container's desired spec: `up` recreates a container only when it changes. */
export const LABEL_SPEC_HASH = "pgfort.spec-hash";

export type Role = "primary" | "replica" | "backup" | "restore" | "verify";

export function clusterLabels(cluster: string, role: Role, node: string): Record<string, string> {
  return { [LABEL_CLUSTER]: cluster, [LABEL_ROLE]: role, [LABEL_NODE]: node };
}

/** Docker objects are named `<cluster>-<node>` (DESIGN.md). */
export function objectName(cluster: string, node: string): string {
  return `${cluster}-${node}`;
}

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
