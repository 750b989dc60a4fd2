// Waiting for what a test expects of a running system: a check polled until it holds, and a WAL
// file closed and seen archived by the primary itself (pg_stat_archiver).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { psql } from "./postgres";

/** Polls until `check` holds (or throws its last failure after `timeoutMs`). */
export async function eventually<T>(timeoutMs: number, check: () => Promise<T>, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}

/** Closes the primary's current WAL file and waits until the primary says it is archived. */
export async function archiveNow(primary: string, timeoutMs = 60_000): Promise<string> {
  const closed = await psql(primary, "SELECT pg_walfile_name(pg_switch_wal())");
  await eventually(
    timeoutMs,
    async () => assert.ok((await psql(primary, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= closed, `${closed} was not archived within ${timeoutMs / 1000} s`),
    300,
  );
  return closed;
}
