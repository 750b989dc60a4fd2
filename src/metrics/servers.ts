// Where the agent finds the servers: the agent's config lists their host names on the cluster
// network (src/agent/contract.ts `servers`), which are the containers' names, `<cluster>-<node>`.
import type { ServerAddress } from "./server-reading";

/** Postgres's port inside the cluster network (the published port is the host's business). */
export const SERVER_PORT = 5432;

/** The collector's addresses for the agent's server host names; the node label is the name without the cluster's prefix. */
export function clusterNetworkServers(cluster: string, hosts: readonly string[]): ServerAddress[] {
  const prefix = `${cluster}-`;
  return hosts.map((host) => ({ node: host.startsWith(prefix) ? host.slice(prefix.length) : host, host, port: SERVER_PORT }));
}
