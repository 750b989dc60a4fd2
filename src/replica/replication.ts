// Replication as the primary sees it: the role, the slots, and each standby's progress.
import { z } from "zod";
import { REPLICATION_USER } from "../cluster/plan";
import { queryRows, quoteLiteral, runSql } from "../cluster/sql";
import type { DockerClient } from "../docker/client";
import { ContainerError, PostgresError } from "../errors";
import { scramVerifier } from "./scram";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";

/**
 * Creates the replication role if it is missing: REPLICATION LOGIN and nothing else. An existing
 * role is left as it is (changing its password would cut off replicas that use the old one).
 */
export async function ensureReplicationRole(docker: DockerClient, primary: string, password: string): Promise<boolean> {
  const exists = await queryRows(docker, primary, `SELECT 1 AS one FROM pg_roles WHERE rolname = ${quoteLiteral(REPLICATION_USER)}`, z.object({ one: z.number() }));
  if (exists.length > 0) return false;
  await runSql(
    docker,
    primary,
    `CREATE ROLE ${REPLICATION_USER} WITH REPLICATION LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS ` +
      `CONNECTION LIMIT 20 PASSWORD ${quoteLiteral(scramVerifier(password))};`,
  );
  return true;
}

/** Creates the physical slot unless it exists; true when created now. */
export async function ensureSlot(docker: DockerClient, primary: string, slot: string): Promise<boolean> {
  const created = await queryRows(
    docker,
    primary,
    `SELECT slot_name FROM pg_create_physical_replication_slot(${quoteLiteral(slot)}) ` +
      `WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)})`,
    z.object({ slot_name: z.string() }),
  );
  return created.length > 0;
}

/** The slot's state on the primary, or undefined when there is no such slot. The one slot query. */
export async function slotState(docker: DockerClient, primary: string, slot: string): Promise<{ active: boolean } | undefined> {
  const rows = await queryRows(docker, primary, `SELECT active FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)}`, z.object({ active: z.boolean() }));
  return rows[0];
}

export async function slotExists(docker: DockerClient, primary: string, slot: string): Promise<boolean> {
  return (await slotState(docker, primary, slot)) !== undefined;
}

/** Drops the slot, waiting (up to timeoutMs) for its walsender to go once the replica has stopped. */
export async function dropSlot(docker: DockerClient, primary: string, slot: string, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    { timeoutMs, intervalMs: 250 },
    async () => {
      const state = await slotState(docker, primary, slot);
      if (!state) return done(undefined);
      if (state.active) return NOT_YET;
      await runSql(docker, primary, `SELECT pg_drop_replication_slot(${quoteLiteral(slot)});`);
      return done(undefined);
    },
    () => new PostgresError(`slot ${slot} on ${primary} is still in use`, "stop the replica that uses it, then run the command again"),
  );
}

export const ReplicationRow = z.object({
  slot: z.string(),
  slot_active: z.boolean(),
  application_name: z.string().nullable(),
  state: z.string().nullable(),
  sent_lsn: z.string().nullable(),
  replay_lsn: z.string().nullable(),
  lag_bytes: z.number().nullable(),
  lag_seconds: z.number().nullable(),
  retained_bytes: z.number().nullable(),
});
export type ReplicationRow = z.infer<typeof ReplicationRow>;

/** One row per physical slot on the primary, with its standby's progress when one is connected. */
export async function replicationRows(docker: DockerClient, primary: string): Promise<ReplicationRow[]> {
  return queryRows(
    docker,
    primary,
    `SELECT s.slot_name AS slot, s.active AS slot_active, r.application_name, r.state,
            r.sent_lsn::text AS sent_lsn, r.replay_lsn::text AS replay_lsn,
            pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 AS lag_bytes,
            extract(epoch FROM r.replay_lag)::float8 AS lag_seconds,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 AS retained_bytes
       FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
      WHERE s.slot_type = 'physical'
      ORDER BY s.slot_name`,
    ReplicationRow,
  );
}

/** Waits until the primary shows a standby streaming through `slot`. */
export async function waitStreaming(docker: DockerClient, primary: string, replica: string, slot: string, timeoutMs: number): Promise<void> {
  let row: ReplicationRow | undefined;
  await pollUntil(
    { timeoutMs, intervalMs: 250 },
    async () => {
      row = (await replicationRows(docker, primary)).find((candidate) => candidate.slot === slot);
      return row?.state === "streaming" ? done(undefined) : NOT_YET;
    },
    async () =>
      new ContainerError(
        `${replica} is not streaming from ${primary} after ${Math.round(timeoutMs / 1000)} s (slot ${slot}: ${row?.state ?? (row ? "inactive" : "missing")}); its last log lines:\n${await docker.logTail(replica)}`,
        "read the replica's log above",
      ),
  );
}
