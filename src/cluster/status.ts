// `pgfort status`: what runs for a cluster, read from the engine and from each server.
import { z } from "zod";
import type { ContainerInspect, DockerClient } from "../docker/client";
import { clusterFilter, LABEL_NODE, LABEL_ROLE } from "../docker/labels";
import { agentContainerName, containerName } from "../docker/names";
import { settingsInForce, type SettingInForce } from "./settings-in-force";
import { queryRows } from "./sql";
import { readUsage, type ContainerUsage } from "./usage";
import { COLLATION_MISMATCH_QUERY, type CollationMismatch } from "../collation/versions";

const MismatchRow = z.object({ database: z.string(), recorded: z.string().nullable(), actual: z.string().nullable() });

/** A server node as the engine and the server itself see it; replication is added above (src/orchestrate/status.ts). */
export interface ServerStatus {
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
  /** Live usage from the engine and the container's cgroup. */
  usage: ContainerUsage;
  /** The tuned settings in force and which file set each; null when the server does not answer. */
  settings: SettingInForce[] | null;
  /** WAL archiving as the server sees it (pg_stat_archiver, its archive_status directory); null when it does not answer. */
  archive: ArchiveStatus | null;
  /** Databases whose collation version is not the running library's (PostgreSQL warns on connect); null when it does not answer. */
  collation: CollationMismatch[] | null;
}

export interface ArchiveStatus {
  mode: string;
  lastArchivedWal: string | null;
  lastArchivedAt: string | null;
  lastFailedWal: string | null;
  lastFailedAt: string | null;
  failedCount: number;
  /** WAL files waiting for the archive in pg_wal (their .ready marks). */
  pendingFiles: number;
}

/** Maps `docker inspect` to the engine-side part of a NodeStatus. Pure. */
export function mapInspect(info: ContainerInspect, now: Date): Omit<ServerStatus, "connections" | "inRecovery" | "usage" | "settings" | "archive" | "collation"> {
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

const ServerRow = z.object({
  connections: z.number(),
  in_recovery: z.boolean(),
  archive_mode: z.string(),
  last_archived_wal: z.string().nullable(),
  last_archived_at: z.string().nullable(),
  last_failed_wal: z.string().nullable(),
  last_failed_at: z.string().nullable(),
  failed_count: z.number(),
  pending_files: z.number(),
});
const SERVER_QUERY = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int AS connections,
  pg_is_in_recovery() AS in_recovery, current_setting('archive_mode') AS archive_mode,
  a.last_archived_wal, a.last_archived_time::text AS last_archived_at, a.last_failed_wal, a.last_failed_time::text AS last_failed_at,
  a.failed_count::int AS failed_count,
  (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')::int AS pending_files
  FROM pg_stat_archiver a`;

/** The running primaries and replicas of the cluster, by node name: the current primary first. */
export async function runningNodes(docker: DockerClient, cluster: string, primaryNode: string): Promise<string[]> {
  const { containers } = await docker.listLabelled(clusterFilter(cluster));
  return containers
    .filter((container) => container.State === "running" && ["primary", "replica"].includes(container.Labels[LABEL_ROLE] ?? ""))
    .map((container) => container.Labels[LABEL_NODE] ?? "")
    .sort((a, b) => (a === primaryNode ? -1 : b === primaryNode ? 1 : a.localeCompare(b)));
}

/** Every server node of the cluster; `primaryNode` is the current primary (after a promotion, not the label). */
export async function serverStatuses(docker: DockerClient, cluster: string, primaryNode: string, now = new Date()): Promise<ServerStatus[]> {
  const { containers } = await docker.listLabelled(clusterFilter(cluster));
  // In parallel: the engine's stats take about a second per container (two samples for CPU).
  const read = async (id: string): Promise<ServerStatus | undefined> => {
    const info = await docker.inspectContainerIfExists(id);
    if (!info) return undefined;
    const base = mapInspect(info, now);
    if (base.role !== "primary" && base.role !== "replica") return undefined; // throwaway backup/verify containers, the secrets carrier
    const role = base.node === primaryNode ? "primary" : base.role === "primary" ? "former primary (fenced)" : "replica";
    const running = info.State.Running;
    const [usage, server, settings, collation] = await Promise.all([
      readUsage(docker, info),
      running
        ? queryRows(docker, base.container, SERVER_QUERY, ServerRow)
            .then((rows) => rows[0])
            .catch(() => undefined)
        : undefined,
      running ? settingsInForce(docker, base.container).catch(() => null) : null,
      running ? queryRows(docker, base.container, COLLATION_MISMATCH_QUERY, MismatchRow).catch(() => null) : null,
    ]);
    const archive: ArchiveStatus | null = server
      ? {
          mode: server.archive_mode,
          lastArchivedWal: server.last_archived_wal,
          lastArchivedAt: server.last_archived_at,
          lastFailedWal: server.last_failed_wal,
          lastFailedAt: server.last_failed_at,
          failedCount: server.failed_count,
          pendingFiles: server.pending_files,
        }
      : null;
    return { ...base, role, connections: server?.connections ?? null, inRecovery: server?.in_recovery ?? null, usage, settings, archive, collation };
  };
  const nodes = (await Promise.all(containers.map((summary) => read(summary.Id)))).filter((node): node is ServerStatus => node !== undefined);
  return nodes.sort((a, b) => (a.role === b.role ? a.node.localeCompare(b.node) : a.role === "primary" ? -1 : 1));
}

/**
 * A service container beside the servers (the agent, issue 10; the pooler, issue 13) as the engine
 * sees it. For the agent, `health` is "the process answers", not the backups' health.
 */
export interface ServiceStatus {
  container: string;
  state: string;
  health: string;
  /** Restarts by Docker's restart policy since it was created. */
  restarts: number;
  /** Where /metrics and /healthz are published. */
  port: string | null;
}

export function mapServiceInspect(info: ContainerInspect): ServiceStatus {
  // The image exposes 5432 too (unpublished: null): the published port is the one with a binding.
  const binding = Object.values(info.NetworkSettings.Ports ?? {}).find((bindings) => bindings?.length)?.[0];
  return {
    container: info.Name.replace(/^\//, ""),
    state: info.State.Status,
    health: info.State.Health?.Status ?? "none",
    restarts: info.RestartCount,
    port: binding ? `${binding.HostIp}:${binding.HostPort}` : null,
  };
}

export async function agentStatus(docker: DockerClient, cluster: string): Promise<ServiceStatus | null> {
  const info = await docker.inspectContainerIfExists(agentContainerName(cluster));
  return info ? mapServiceInspect(info) : null;
}

/** The pooler container (issue 13): state, health, restarts, published port. */
export async function poolerStatus(docker: DockerClient, cluster: string): Promise<ServiceStatus | null> {
  const info = await docker.inspectContainerIfExists(containerName(cluster, "pooler"));
  return info ? mapServiceInspect(info) : null;
}
