// Every Docker object name pgfort uses, in one place (DESIGN.md: `<cluster>-<node>`, volumes
// `<cluster>-<node>-data`, network `<cluster>-net`). Pure.

/** Docker objects are named `<cluster>-<node>` (DESIGN.md). */
export function objectName(cluster: string, node: string): string {
  return `${cluster}-${node}`;
}

/** The container of a node: `app-primary`, `app-r1`. */
export function containerName(cluster: string, node: string): string {
  return objectName(cluster, node);
}

/**
 * A node's two volumes: the data directory and its WAL (kept apart: POSTGRES_INITDB_WALDIR).
 * `generation` is the suffix of the volumes a major upgrade made (`-pg17`, image.volumeSuffix);
 * a cluster never upgraded has none.
 */
export function nodeVolumes(cluster: string, node: string, generation = ""): { data: string; wal: string } {
  const container = containerName(cluster, node);
  return { data: `${container}-data${generation}`, wal: `${container}-wal${generation}` };
}

export function networkName(cluster: string): string {
  return objectName(cluster, "net");
}

/** The volume that carries the cluster's secrets into its containers, read-only at /run/secrets. */
export function secretsVolumeName(cluster: string): string {
  return objectName(cluster, "secrets");
}

/**
 * The servers' Unix sockets shared with the agent: each server listens in its own directory there
 * too (`<volume>/<container>`), so the agent's jobs reach it as `docker exec` does, not over the
 * bridge (measured ~15% of a physical backup's time).
 */
export function socketsVolumeName(cluster: string): string {
  return objectName(cluster, "sockets");
}

/** The agent container, `<cluster>-agent` (issue 10). */
export function agentContainerName(cluster: string): string {
  return objectName(cluster, "agent");
}

/** The agent's scratch space (drills' scratch servers): its root filesystem is read-only. */
export function agentScratchVolumeName(cluster: string): string {
  return objectName(cluster, "agent-scratch");
}

/** Node names that are object-name suffixes of their own, so no replica may take them. */
export const RESERVED_NODE_NAMES: readonly string[] = ["primary", "net", "secrets", "sockets", "agent"];
