// `pgfort status`: what runs for a cluster, read from the engine and from each server.
import { z } from "zod";
import type { ContainerInspect, DockerClient } from "../docker/client";
import { clusterFilter, LABEL_NODE, LABEL_ROLE } from "../docker/labels";
import { replicationRows, type ReplicationRow } from "../replica/replication";
import { slotName } from "../replica/plan";
import { queryRows } from "./sql";
import { objectName } from "../docker/labels";

export interface NodeStatus {
  node: string;
  container: string;
  role: string;
  state: string;
  health: string;
  uptimeSeconds: number | null;
  limits: { memoryBytes: number | null; swapBytes: number | null; cpus: number | null; pids: number | null; shmBytes: number | null };
  connections: number | null;
  inRecovery: boolean | null;
  port: string | null;
  /** For replicas, as the primary sees them. */
  replication: ReplicaProgress | null;
}

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

/** Maps `docker inspect` to the engine-side part of a NodeStatus. Pure. */
export function mapInspect(info: ContainerInspect, now: Date): Omit<NodeStatus, "connections" | "inRecovery" | "replication"> {
  const host = info.HostConfig;
  const started = info.State.Running ? Date.parse(info.State.StartedAt) : NaN;
  const binding = info.NetworkSettings.Ports?.["5432/tcp"]?.[0];
  return {
    node: info.Config.Labels?.[LABEL_NODE] ?? info.Name.replace(/^\//, ""),
    container: info.Name.replace(/^\//, ""),
    role: info.Config.Labels?.[LABEL_ROLE] ?? "unknown",
    state: info.State.Status,
    health: info.State.Health?.Status ?? "none",
    uptimeSeconds: Number.isNaN(started) ? null : Math.max(0, Math.round((now.getTime() - started) / 1000)),
    limits: {
      memoryBytes: host.Memory || null,
      swapBytes: host.Memory && host.MemorySwap ? host.MemorySwap - host.Memory : null,
      cpus: host.NanoCpus ? host.NanoCpus / 1e9 : null,
      pids: host.PidsLimit || null,
      shmBytes: host.ShmSize || null,
    },
    port: binding ? `${binding.HostIp}:${binding.HostPort}` : null,
  };
}

const ServerRow = z.object({ connections: z.number(), in_recovery: z.boolean() });

/** Every node of the cluster; `primaryNode` is the current primary (after a promotion, not the label). */
export async function clusterStatus(docker: DockerClient, cluster: string, primaryNode: string, now = new Date()): Promise<NodeStatus[]> {
  const { containers } = await docker.listLabelled(clusterFilter(cluster));
  const primary = objectName(cluster, primaryNode);
  const primaryRunning = containers.some((container) => container.Names.includes(`/${primary}`) && container.State === "running");
  const replication = primaryRunning ? await replicationRows(docker, primary).catch(() => []) : [];
  const nodes: NodeStatus[] = [];
  for (const summary of containers) {
    const info = await docker.inspectContainerIfExists(summary.Id);
    if (!info) continue;
    const base = mapInspect(info, now);
    if (base.role !== "primary" && base.role !== "replica") continue; // throwaway backup/verify containers
    const role = base.node === primaryNode ? "primary" : base.role === "primary" ? "former primary (fenced)" : "replica";
    let server: z.infer<typeof ServerRow> | undefined;
    if (info.State.Running) {
      server = await queryRows(
        docker,
        base.container,
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int AS connections, pg_is_in_recovery() AS in_recovery",
        ServerRow,
      )
        .then((rows) => rows[0])
        .catch(() => undefined);
    }
    const row = role === "replica" ? replication.find((candidate) => candidate.slot === slotName(base.node)) : undefined;
    nodes.push({
      ...base,
      role,
      connections: server?.connections ?? null,
      inRecovery: server?.in_recovery ?? null,
      replication: row ? mapReplication(row) : null,
    });
  }
  return nodes.sort((a, b) => (a.role === b.role ? a.node.localeCompare(b.node) : a.role === "primary" ? -1 : 1));
}
