// What the collector asks each server, and the shape of each answer. Every number is cast in SQL
// to a type node-postgres returns as a JavaScript number (int4, float8): int8 and numeric arrive as
// strings. LSNs arrive as text; their arithmetic is done in lsn.ts.
import { z } from "zod";

/** Which major, whether it is a standby, and the WAL position others are measured against. */
export const FACTS_QUERY = `SELECT current_setting('server_version_num')::int AS version_num,
       pg_is_in_recovery() AS in_recovery,
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS current_lsn`;
export const FactsRow = z.object({ version_num: z.number().int(), in_recovery: z.boolean(), current_lsn: z.string().nullable() });
export type FactsRow = z.infer<typeof FactsRow>;

// Every database, template0 included: it is never vacuumed by hand, and its age counts towards
// wraparound like any other's.
export const DATABASES_QUERY = `SELECT datname, pg_database_size(oid)::float8 AS size_bytes, age(datfrozenxid)::float8 AS xid_age
  FROM pg_database ORDER BY datname`;
export const DatabaseRow = z.object({ datname: z.string(), size_bytes: z.number(), xid_age: z.number() });
export type DatabaseRow = z.infer<typeof DatabaseRow>;

// Backends attached to a database (walsenders and background processes have none), the collector's
// own connection left out: the count is what the applications hold.
export const ACTIVITY_QUERY = `SELECT datname, state, count(*)::int AS count
  FROM pg_stat_activity WHERE datname IS NOT NULL AND pid <> pg_backend_pid() GROUP BY datname, state`;
export const ActivityRow = z.object({ datname: z.string(), state: z.string().nullable(), count: z.number().int() });
export type ActivityRow = z.infer<typeof ActivityRow>;

/** Asked on a server that is not in recovery: its standbys' progress. */
export const REPLICATION_QUERY = `SELECT application_name, state, replay_lsn::text AS replay_lsn,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
  FROM pg_stat_replication`;
export const ReplicationRow = z.object({
  application_name: z.string(),
  state: z.string().nullable(),
  replay_lsn: z.string().nullable(),
  replay_lag_seconds: z.number().nullable(),
});
export type ReplicationRow = z.infer<typeof ReplicationRow>;

export const SLOTS_QUERY = `SELECT slot_name, restart_lsn::text AS restart_lsn FROM pg_replication_slots ORDER BY slot_name`;
export const SlotRow = z.object({ slot_name: z.string(), restart_lsn: z.string().nullable() });
export type SlotRow = z.infer<typeof SlotRow>;

// PostgreSQL 17 moved the checkpointer's counters out of pg_stat_bgwriter into pg_stat_checkpointer
// and renamed them; the metrics keep postgres_exporter's names across majors, so dashboards do not break.
const CHECKPOINTS_BEFORE_17 = `SELECT checkpoints_timed::float8 AS timed, checkpoints_req::float8 AS requested,
       checkpoint_write_time::float8 AS write_time_ms, checkpoint_sync_time::float8 AS sync_time_ms,
       buffers_checkpoint::float8 AS buffers FROM pg_stat_bgwriter`;
const CHECKPOINTS_SINCE_17 = `SELECT num_timed::float8 AS timed, num_requested::float8 AS requested,
       write_time::float8 AS write_time_ms, sync_time::float8 AS sync_time_ms,
       buffers_written::float8 AS buffers FROM pg_stat_checkpointer`;
export function checkpointsQuery(versionNum: number): string {
  return versionNum >= 170000 ? CHECKPOINTS_SINCE_17 : CHECKPOINTS_BEFORE_17;
}
export const CheckpointRow = z.object({ timed: z.number(), requested: z.number(), write_time_ms: z.number(), sync_time_ms: z.number(), buffers: z.number() });
export type CheckpointRow = z.infer<typeof CheckpointRow>;

export const ARCHIVER_QUERY = `SELECT archived_count::float8 AS archived, failed_count::float8 AS failed,
       extract(epoch FROM now() - last_archived_time)::float8 AS last_archive_age_seconds FROM pg_stat_archiver`;
export const ArchiverRow = z.object({ archived: z.number(), failed: z.number(), last_archive_age_seconds: z.number().nullable() });
export type ArchiverRow = z.infer<typeof ArchiverRow>;

/** Everything one server said in one scrape. */
export interface ServerReading {
  facts: FactsRow;
  databases: DatabaseRow[];
  activity: ActivityRow[];
  /** Empty on a standby (it has no standbys of its own in pgfort). */
  replication: ReplicationRow[];
  slots: SlotRow[];
  checkpoints: CheckpointRow | null;
  archiver: ArchiverRow | null;
}
