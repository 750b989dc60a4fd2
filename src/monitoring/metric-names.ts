// The names and labels of every metric the alert rules read: one home, so the rules and the agent
// that serves the metrics cannot drift apart. postgres_exporter's names where it has one (users
// already have dashboards for them), `pgfort_` where it has none.

/** Served today by `pgfort schedule` (src/schedule/metrics.ts), label `backup_job` = backups.jobs[].name
 * (not `job`: that is Prometheus's label of the scrape job, and would be renamed to exported_job). */
export const BACKUP_METRICS = {
  lastSuccessTimestamp: "pgfort_backup_last_success_timestamp_seconds",
  runs: "pgfort_backup_runs_total",
  failures: "pgfort_backup_failures_total",
  verifyFailures: "pgfort_backup_verify_failures_total",
  verifyErrors: "pgfort_backup_verify_errors_total",
} as const;
export const JOB_LABEL = "backup_job";

/** To be served by the agent (issue 10): Unix time of the newest restore drill that passed, no labels. */
export const LAST_VERIFIED_TIMESTAMP = "pgfort_backup_last_verified_timestamp_seconds";

/** To be served by the agent, read from the primary's pg_stat_replication / pg_replication_slots / pg_database. */
export const DATABASE_METRICS = {
  /** postgres_exporter's: 1 when the server answers. */
  up: "pg_up",
  /** postgres_exporter's name; per replica (label application_name = the replica's name), from replay_lag. */
  replicationLagSeconds: "pg_replication_lag_seconds",
  /** postgres_exporter's pg_stat_replication collector: bytes between the primary's WAL and the replica's replay. */
  replicationLagBytes: "pg_stat_replication_pg_wal_lsn_diff",
  /** pg_current_wal_lsn() - restart_lsn per slot; postgres_exporter has no such metric. */
  slotRetainedWalBytes: "pgfort_replication_slot_retained_wal_bytes",
  /** age(datfrozenxid) per database; postgres_exporter has no such metric. */
  databaseXidAge: "pgfort_database_xid_age",
} as const;
export const REPLICA_LABEL = "application_name";
export const SLOT_LABEL = "slot_name";
export const DATABASE_LABEL = "datname";

/** Served by the agent's WAL archiver (src/wal/archiver.ts), label `server` = the server's container. */
export const WAL_METRICS = {
  failing: "pgfort_wal_archive_failing",
  gaps: "pgfort_wal_archive_gaps_total",
  pendingBytes: "pgfort_wal_archive_pending_bytes",
  maxPendingBytes: "pgfort_wal_archive_max_pending_bytes",
  lastSuccessTimestamp: "pgfort_wal_archive_last_success_timestamp_seconds",
  archived: "pgfort_wal_archived_total",
  failures: "pgfort_wal_archive_failures_total",
} as const;
