// `pgfort upgrade --to 17`, `--rollback` and `--finalize` (issue 12) on a real cluster of the older
// major with a replica: checked with the servers themselves (SHOW, counts, a PL/Python call, a
// password login over TCP, pg_stat_replication, pg_stat_archiver) and the engine's volume list.
// It needs a cluster of a major below the newest, so it runs in the run on 15
// (npm run test:integration:15); in the run on 17 there is nothing to upgrade from.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { DEFAULT_PG_MAJOR } from "../../src/config/schema";
import { engineApi, psql, TEST_PG_MAJOR } from "./postgres";
import { freePort, Workspace } from "./workspace";

async function eventually(what: string, read: () => Promise<string>, expected: (value: string) => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await read().catch((error: unknown) => `error: ${String(error)}`);
    if (expected(last)) return last;
    await sleep(250);
  }
  return assert.fail(`${what}: still ${last} after ${timeoutMs} ms`);
}

/** A login over TCP, as an application makes it: TLS verified against the cluster's CA. */
async function login(port: number, password: string, caFile: string): Promise<string> {
  const client = new Client({ host: "127.0.0.1", port, user: "alice", password, database: "app", ssl: { ca: await readFile(caFile, "utf8") } });
  await client.connect();
  try {
    const result = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM pgbench_accounts");
    return result.rows[0]?.n ?? "";
  } finally {
    await client.end();
  }
}

const COUNTS = "SELECT string_agg(t || '=' || n, ',' ORDER BY t) FROM (SELECT 'accounts' AS t, count(*) AS n FROM pgbench_accounts UNION ALL SELECT 'branches', count(*) FROM pgbench_branches UNION ALL SELECT 'tellers', count(*) FROM pgbench_tellers UNION ALL SELECT 'balance', sum(abalance) FROM pgbench_accounts) s";

/** The last WAL file archived, and whether archiving works now (nothing failed since). */
const ARCHIVER = "SELECT coalesce(last_archived_wal, '') || ',' || (last_failed_time IS NULL OR last_failed_time < last_archived_time) FROM pg_stat_archiver";

async function volumeNames(cluster: string): Promise<string[]> {
  const { Volumes } = await engineApi.listVolumes({ filters: { label: [`pgfort.cluster=${cluster}`] } });
  return (Volumes ?? []).map((volume) => volume.Name).sort();
}

if (TEST_PG_MAJOR < DEFAULT_PG_MAJOR) {
  describe("pgfort upgrade", function () {
    it(`upgrades a ${TEST_PG_MAJOR} cluster with a replica to ${DEFAULT_PG_MAJOR}, rolls it back as it was, and finalizes`, async function () {
      const port = await freePort();
      const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\nreplicas: [ { name: r1, resources: { memory: 256m, cpus: 1 } } ]\n`);
      await workspace.ok("up");
      const primary = `${workspace.cluster}-primary`;
      const r1 = `${workspace.cluster}-r1`;
      await psql(primary, "CREATE DATABASE app");
      const pgbench = await engineApi.getContainer(primary).exec({ Cmd: ["pgbench", "-i", "-s", "2", "-q", "-U", "postgres", "app"], AttachStdout: true, AttachStderr: true });
      await new Promise<void>((resolve, reject) => pgbench.start({}, (error, stream) => (error || !stream ? reject(error) : (stream.on("end", () => resolve()), stream.resume()))));
      assert.equal((await pgbench.inspect()).ExitCode, 0, "pgbench -i");
      await psql(primary, "UPDATE pgbench_accounts SET abalance = aid % 7; CREATE EXTENSION plpython3u; CREATE FUNCTION pymax(a int, b int) RETURNS int AS $$ return max(a, b) $$ LANGUAGE plpython3u; CREATE ROLE alice LOGIN PASSWORD 'wonder land'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice", { db: "app" });
      const before = await psql(primary, COUNTS, { db: "app" });
      assert.match(before, /^accounts=200000,balance=\d+,branches=2,tellers=20$/);
      const oldVolumes = await volumeNames(workspace.cluster);

      const upgraded = await workspace.ok("upgrade", "--to", String(DEFAULT_PG_MAJOR), "--yes");
      assert.match(upgraded.stdout, new RegExp(`runs PostgreSQL ${DEFAULT_PG_MAJOR} `));
      const downtime = /downtime \(writes stopped\): ([0-9.]+) s/.exec(upgraded.stdout);
      assert.ok(downtime, `the downtime is printed:\n${upgraded.stdout}`);
      assert.ok(Number(downtime[1]) > 0);

      assert.match(await psql(primary, "SHOW server_version"), new RegExp(`^${DEFAULT_PG_MAJOR}\\.`));
      assert.equal(await psql(primary, COUNTS, { db: "app" }), before, "row counts and balances equal");
      assert.equal(await psql(primary, "SELECT pymax(2, 3)", { db: "app" }), "3", "the PL/Python function runs");
      assert.equal(await login(port, "wonder land", workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt")), "200000", "the role logs in over TCP with its old password");
      assert.equal(await psql(primary, "SELECT datcollversion IS NOT DISTINCT FROM pg_database_collation_actual_version(oid) FROM pg_database WHERE datname = 'app'"), "t");
      // Statistics were rebuilt before the server took writes.
      assert.notEqual(await psql(primary, "SELECT count(*) FROM pg_stats WHERE tablename = 'pgbench_accounts'", { db: "app" }), "0");
      // The replica: on the new major, streaming, sees a new write.
      assert.match(await psql(r1, "SHOW server_version"), new RegExp(`^${DEFAULT_PG_MAJOR}\\.`));
      assert.equal(await psql(r1, "SELECT pg_is_in_recovery()"), "t");
      await eventually("r1 streams", () => psql(primary, "SELECT coalesce(string_agg(application_name || ':' || state, ','), '') FROM pg_stat_replication"), (value) => value === "r1:streaming", 30_000);
      await psql(primary, "CREATE TABLE after_upgrade AS SELECT 1 AS n", { db: "app" });
      await eventually("r1 sees the write", () => psql(r1, "SELECT count(*) FROM pg_class WHERE relname = 'after_upgrade'", { db: "app" }), (value) => value === "1", 10_000);
      // WAL archiving goes on under names the old major's archive never used.
      await psql(primary, "SELECT pg_switch_wal()");
      // (The primary starts before the agent: its first attempts are refused until the agent runs.)
      await eventually("the new major archives", () => psql(primary, ARCHIVER), (value) => /^00000002[0-9A-F]{16},true$/.test(value), 60_000);
      const stored = await readdir(workspace.path("backups", workspace.cluster, "wal"));
      assert.ok(stored.some((name) => name.startsWith("00000002.history.")), `the new timeline's history is archived: ${stored.join(" ")}`);
      const status = await workspace.ok("status");
      assert.match(status.stdout, new RegExp(`PostgreSQL ${DEFAULT_PG_MAJOR}: upgraded from ${TEST_PG_MAJOR} at .*--rollback`));
      // The old volumes are kept, stopped; the new ones are beside them.
      const during = await volumeNames(workspace.cluster);
      for (const volume of oldVolumes) assert.ok(during.includes(volume), `${volume} kept`);
      assert.ok(during.includes(`${primary}-data-pg${DEFAULT_PG_MAJOR}`));
      assert.equal((await engineApi.listContainers({ all: true, filters: { label: [`pgfort.cluster=${workspace.cluster}`, "pgfort.role=restore"] } })).length, 0, "no private server of the move is left");

      await workspace.ok("upgrade", "--rollback", "--yes");
      assert.match(await psql(primary, "SHOW server_version"), new RegExp(`^${TEST_PG_MAJOR}\\.`));
      assert.equal(await psql(primary, COUNTS, { db: "app" }), before, "the data as it was when writes stopped");
      assert.equal(await psql(primary, "SELECT count(*) FROM pg_class WHERE relname = 'after_upgrade'", { db: "app" }), "0", "writes since the upgrade are gone");
      assert.equal(await login(port, "wonder land", workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt")), "200000");
      assert.match(await psql(r1, "SHOW server_version"), new RegExp(`^${TEST_PG_MAJOR}\\.`));
      await eventually("r1 streams on the old major", () => psql(primary, "SELECT coalesce(string_agg(application_name || ':' || state, ','), '') FROM pg_stat_replication"), (value) => value === "r1:streaming", 30_000);
      assert.deepEqual((await volumeNames(workspace.cluster)).filter((volume) => volume.endsWith(`-pg${DEFAULT_PG_MAJOR}`)), [], "the new major's volumes are removed");

      // Again, and this time for good: --finalize removes the old volumes.
      await workspace.ok("upgrade", "--to", String(DEFAULT_PG_MAJOR), "--yes");
      assert.equal(await psql(primary, COUNTS, { db: "app" }), before);
      await psql(primary, "SELECT pg_switch_wal()");
      await eventually("the second upgrade archives on a timeline above the first's", () => psql(primary, ARCHIVER), (value) => /^00000003[0-9A-F]{16},true$/.test(value), 60_000);
      await workspace.ok("upgrade", "--finalize", "--yes");
      const after = await volumeNames(workspace.cluster);
      for (const volume of oldVolumes.filter((name) => name.endsWith("-data") || name.endsWith("-wal"))) assert.ok(!after.includes(volume), `${volume} removed`);
      assert.match(await psql(primary, "SHOW server_version"), new RegExp(`^${DEFAULT_PG_MAJOR}\\.`));
      const refused = await workspace.run("upgrade", "--rollback", "--yes");
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /finalized: no older major is kept/);
    });
  });
}
