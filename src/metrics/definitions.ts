// The database metrics the agent serves, with postgres_exporter's names where it has one (users
// already have dashboards and alerts for them) and `pgfort_` where it has none. The names the alert
// rules read come from src/monitoring/metric-names.ts, their one home.
//
// Labels: every series carries `node` (primary, r1… as in pgfort.yaml and the pgfort.node label):
// one agent scrapes every server of its cluster, so Prometheus's `instance` is the agent and cannot
// tell the servers apart; the node name survives a container's recreation, a host name or address
// would not. No `cluster` label: one agent serves one cluster, and the scrape config (or the rules'
// own `cluster` label) says which. Replication series are labelled by the standby's
// application_name (pgfort sets it to the replica's node name) and not by client_addr or state,
// which change on a reconnect and would start a new series each time.
import { DATABASE_LABEL, DATABASE_METRICS, LAST_VERIFIED_TIMESTAMP, REPLICA_LABEL, SLOT_LABEL } from "../monitoring/metric-names";

export const NODE_LABEL = "node";

export interface MetricDefinition {
  name: string;
  help: string;
  type: "gauge" | "counter";
  labelNames: readonly string[];
}

export const METRIC = {
  up: DATABASE_METRICS.up,
  isReplica: "pg_replication_is_replica",
  scrapeDuration: "pgfort_database_scrape_duration_seconds",
  activityCount: "pg_stat_activity_count",
  databaseSize: "pg_database_size_bytes",
  xidAge: DATABASE_METRICS.databaseXidAge,
  replicationLagSeconds: DATABASE_METRICS.replicationLagSeconds,
  replicationLagBytes: DATABASE_METRICS.replicationLagBytes,
  slotRetainedWalBytes: DATABASE_METRICS.slotRetainedWalBytes,
  checkpointsTimed: "pg_stat_bgwriter_checkpoints_timed_total",
  checkpointsRequested: "pg_stat_bgwriter_checkpoints_req_total",
  checkpointWriteTime: "pg_stat_bgwriter_checkpoint_write_time_total",
  checkpointSyncTime: "pg_stat_bgwriter_checkpoint_sync_time_total",
  checkpointBuffers: "pg_stat_bgwriter_buffers_checkpoint_total",
  archived: "pg_stat_archiver_archived_count",
  archiveFailed: "pg_stat_archiver_failed_count",
  lastArchiveAge: "pg_stat_archiver_last_archive_age",
  lastVerified: LAST_VERIFIED_TIMESTAMP,
} as const;

const node = [NODE_LABEL];

export const DATABASE_METRIC_DEFINITIONS: readonly MetricDefinition[] = [
  { name: METRIC.up, help: "1 when the server answered the last scrape within its timeout, else 0", type: "gauge", labelNames: node },
  { name: METRIC.isReplica, help: "1 when the server is a standby (in recovery)", type: "gauge", labelNames: node },
  { name: METRIC.scrapeDuration, help: "Seconds the last scrape of the server took", type: "gauge", labelNames: node },
  { name: METRIC.activityCount, help: "Connections by database and state (pg_stat_activity), the collector's own excluded", type: "gauge", labelNames: [NODE_LABEL, DATABASE_LABEL, "state"] },
  { name: METRIC.databaseSize, help: "Disk space used by the database (pg_database_size)", type: "gauge", labelNames: [NODE_LABEL, DATABASE_LABEL] },
  { name: METRIC.xidAge, help: "Transaction-ID age of the database, age(datfrozenxid); wraparound stops writes near 2^31", type: "gauge", labelNames: [NODE_LABEL, DATABASE_LABEL] },
  { name: METRIC.replicationLagSeconds, help: "Replay lag of the standby as its primary sees it (pg_stat_replication.replay_lag); 0 when caught up", type: "gauge", labelNames: [NODE_LABEL, REPLICA_LABEL] },
  { name: METRIC.replicationLagBytes, help: "Bytes of WAL between the primary's position and the standby's replay position", type: "gauge", labelNames: [NODE_LABEL, REPLICA_LABEL] },
  { name: METRIC.slotRetainedWalBytes, help: "WAL the replication slot holds back: current WAL position minus the slot's restart_lsn", type: "gauge", labelNames: [NODE_LABEL, SLOT_LABEL] },
  { name: METRIC.checkpointsTimed, help: "Scheduled checkpoints (restartpoints on a standby) performed", type: "counter", labelNames: node },
  { name: METRIC.checkpointsRequested, help: "Requested checkpoints (restartpoints on a standby) performed", type: "counter", labelNames: node },
  { name: METRIC.checkpointWriteTime, help: "Milliseconds spent writing checkpoint files (postgres_exporter's unit)", type: "counter", labelNames: node },
  { name: METRIC.checkpointSyncTime, help: "Milliseconds spent syncing checkpoint files (postgres_exporter's unit)", type: "counter", labelNames: node },
  { name: METRIC.checkpointBuffers, help: "Buffers written during checkpoints", type: "counter", labelNames: node },
  { name: METRIC.archived, help: "WAL files archived successfully (pg_stat_archiver)", type: "counter", labelNames: node },
  { name: METRIC.archiveFailed, help: "Failed attempts to archive WAL files (pg_stat_archiver)", type: "counter", labelNames: node },
  { name: METRIC.lastArchiveAge, help: "Seconds since the last WAL file was archived; absent until one is", type: "gauge", labelNames: node },
];

export const LAST_VERIFIED_DEFINITION: MetricDefinition = {
  name: METRIC.lastVerified,
  help: "Unix time of the newest restore drill that passed, over the cluster's backups in the target",
  type: "gauge",
  labelNames: [],
};
