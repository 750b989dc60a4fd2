// `pgfort status`: each server as cluster/ sees it, with each replica's progress as the primary sees it.
import type { DockerClient } from "../docker/client";
import { containerName } from "../docker/names";
import { serverStatuses, type ServerStatus } from "../cluster/status";
import { slotName } from "../replica/plan";
import { replicationRows, type ReplicationRow } from "../replica/replication";

export interface ReplicaProgress {
  slot: string;
  slotActive: boolean;
  state: string | null;
  sentLsn: string | null;
  replayLsn: string | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  walRetainedBytes: number | null;
}

export interface NodeStatus extends ServerStatus {
  /** For replicas, as the primary sees them. */
  replication: ReplicaProgress | null;
}

export function mapReplication(row: ReplicationRow): ReplicaProgress {
  return {
    slot: row.slot,
    slotActive: row.slot_active,
    state: row.state,
    sentLsn: row.sent_lsn,
    replayLsn: row.replay_lsn,
    lagBytes: row.lag_bytes,
    // replay_lag is NULL once a standby has caught up and nothing new was written: that is 0 s behind.
    lagSeconds: row.lag_seconds ?? (row.state === "streaming" && row.lag_bytes === 0 ? 0 : null),
    walRetainedBytes: row.retained_bytes,
  };
}

/** Every node of the cluster; `primaryNode` is the current primary (after a promotion, not the label). */
export async function clusterStatus(docker: DockerClient, cluster: string, primaryNode: string, now = new Date()): Promise<NodeStatus[]> {
  const servers = await serverStatuses(docker, cluster, primaryNode, now);
  const primary = containerName(cluster, primaryNode);
  const primaryRunning = servers.some((server) => server.container === primary && server.state === "running");
  const replication = primaryRunning ? await replicationRows(docker, primary).catch(() => []) : [];
  return servers.map((server) => {
    const row = server.role === "replica" ? replication.find((candidate) => candidate.slot === slotName(server.node)) : undefined;
    return { ...server, replication: row ? mapReplication(row) : null };
  });
}
