// What one scrape of one server becomes: rows in, samples out. Pure. A server that did not answer
// gives pg_up 0 and nothing else, so no value of an earlier scrape is served as if it were current.
import { DATABASE_LABEL, REPLICA_LABEL, SLOT_LABEL } from "../monitoring/metric-names";
import { METRIC, NODE_LABEL } from "./definitions";
import { lsnDistanceBytes } from "./lsn";
import type { ReplicationRow, ServerReading } from "./queries";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** postgres_exporter's states: each has a series, 0 included, so a query sees 0 rather than nothing. */
export const ACTIVITY_STATES = ["active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call", "disabled"] as const;

export interface ServerScrape {
  node: string;
  /** null when the server did not answer (refused, timed out, failed a query). */
  reading: ServerReading | null;
  durationSeconds: number;
}

export function serverSamples({ node, reading, durationSeconds }: ServerScrape): Sample[] {
  const at = (labels: Record<string, string> = {}): Record<string, string> => ({ [NODE_LABEL]: node, ...labels });
  const samples: Sample[] = [
    { name: METRIC.up, labels: at(), value: reading ? 1 : 0 },
    { name: METRIC.scrapeDuration, labels: at(), value: durationSeconds },
  ];
  if (!reading) return samples;
  const { facts } = reading;
  samples.push({ name: METRIC.isReplica, labels: at(), value: facts.in_recovery ? 1 : 0 });
  for (const database of reading.databases) {
    samples.push({ name: METRIC.databaseSize, labels: at({ [DATABASE_LABEL]: database.datname }), value: database.size_bytes });
    samples.push({ name: METRIC.xidAge, labels: at({ [DATABASE_LABEL]: database.datname }), value: database.xid_age });
  }
  samples.push(...activitySamples(reading, at));
  if (facts.current_lsn !== null) {
    const current = facts.current_lsn;
    for (const standby of mergeStandbys(reading.replication, current)) {
      const labels = at({ [REPLICA_LABEL]: standby.name });
      if (standby.lagBytes !== null) samples.push({ name: METRIC.replicationLagBytes, labels, value: standby.lagBytes });
      if (standby.lagSeconds !== null) samples.push({ name: METRIC.replicationLagSeconds, labels, value: standby.lagSeconds });
    }
    for (const slot of reading.slots) {
      // A slot whose restart_lsn is NULL has never reserved WAL: it holds nothing back.
      if (slot.restart_lsn === null) continue;
      samples.push({ name: METRIC.slotRetainedWalBytes, labels: at({ [SLOT_LABEL]: slot.slot_name }), value: lsnDistanceBytes(slot.restart_lsn, current) });
    }
  }
  if (reading.checkpoints) {
    const { timed, requested, write_time_ms, sync_time_ms, buffers } = reading.checkpoints;
    samples.push(
      { name: METRIC.checkpointsTimed, labels: at(), value: timed },
      { name: METRIC.checkpointsRequested, labels: at(), value: requested },
      { name: METRIC.checkpointWriteTime, labels: at(), value: write_time_ms },
      { name: METRIC.checkpointSyncTime, labels: at(), value: sync_time_ms },
      { name: METRIC.checkpointBuffers, labels: at(), value: buffers },
    );
  }
  if (reading.archiver) {
    samples.push({ name: METRIC.archived, labels: at(), value: reading.archiver.archived }, { name: METRIC.archiveFailed, labels: at(), value: reading.archiver.failed });
    if (reading.archiver.last_archive_age_seconds !== null) {
      samples.push({ name: METRIC.lastArchiveAge, labels: at(), value: Math.max(0, reading.archiver.last_archive_age_seconds) });
    }
  }
  return samples;
}

function activitySamples(reading: ServerReading, at: (labels: Record<string, string>) => Record<string, string>): Sample[] {
  const counts = new Map<string, number>();
  const key = (datname: string, state: string): string => JSON.stringify([datname, state]);
  for (const database of reading.databases) for (const state of ACTIVITY_STATES) counts.set(key(database.datname, state), 0);
  // A NULL state is a background process attached to a database (an autovacuum worker): no connection.
  for (const row of reading.activity) {
    if (row.state === null) continue;
    counts.set(key(row.datname, row.state), (counts.get(key(row.datname, row.state)) ?? 0) + row.count);
  }
  return [...counts].map(([pair, value]) => {
    const [datname, state] = JSON.parse(pair) as [string, string];
    return { name: METRIC.activityCount, labels: at({ [DATABASE_LABEL]: datname, state }), value };
  });
}

export interface StandbyLag {
  name: string;
  lagBytes: number | null;
  lagSeconds: number | null;
}

/**
 * Each standby's lag. replay_lag is NULL once a standby has caught up and nothing new was written:
 * that is 0 s behind (the same reading as `pgfort status`). Two standbys with one application_name
 * would make one series: the one further behind is kept, an alert must not miss it.
 */
export function mergeStandbys(rows: readonly ReplicationRow[], currentLsn: string): StandbyLag[] {
  const byName = new Map<string, StandbyLag>();
  for (const row of rows) {
    const lagBytes = row.replay_lsn === null ? null : lsnDistanceBytes(row.replay_lsn, currentLsn);
    const lagSeconds = row.replay_lag_seconds ?? (row.state === "streaming" && lagBytes === 0 ? 0 : null);
    const seen = byName.get(row.application_name);
    byName.set(row.application_name, {
      name: row.application_name,
      lagBytes: worst(seen?.lagBytes ?? null, lagBytes),
      lagSeconds: worst(seen?.lagSeconds ?? null, lagSeconds),
    });
  }
  return [...byName.values()];
}

function worst(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
