// The agent's database metrics, collected from the host against a real cluster's published ports
// (the agent runs the same collector on the cluster network). Every value is checked against the
// server itself (psql) or the engine, never against the collector's own reading.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { createDatabaseMetrics, type DatabaseMetrics } from "../../src/metrics/database-metrics";
import { slotName } from "../../src/replica/plan";
import { engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, as far as these metrics use it (no escapes in label values). */
function parseExposition(text: string): Series[] {
  return text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match?.[1] || !match[3]) return [];
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((pair) => [pair[1] ?? "", pair[2] ?? ""]));
    return [{ name: match[1], labels, value: Number(match[3]) }];
  });
}

function find(series: Series[], name: string, labels: Record<string, string>): number | undefined {
  return series.find((entry) => entry.name === name && Object.entries(labels).every(([key, value]) => entry.labels[key] === value))?.value;
}

function get(series: Series[], name: string, labels: Record<string, string>): number {
  const value = find(series, name, labels);
  assert.notEqual(value, undefined, `no ${name}${JSON.stringify(labels)} in the scrape`);
  return value as number;
}

describe("database metrics (the agent's collector, from the host)", function () {
  let metrics: DatabaseMetrics | undefined;
  const clients: Client[] = [];
  afterEach(async function () {
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
    await metrics?.close();
    metrics = undefined;
  });

  it("pg_up per node, connections that follow the test's own, a replica's lag and its slot, and pg_up 0 for a stopped node", async function () {
    const [primaryPort, replicaPort] = [await freePort(), await freePort()];
    const workspace = await Workspace.create(
      (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${primaryPort}\n  resources: { memory: 256m, cpus: 1 }\nreplicas: [ { name: r1, port: ${replicaPort} } ]\n`,
    );
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    const r1 = `${workspace.cluster}-r1`;
    const passwordFile = workspace.path(".pgfort", workspace.cluster, "secrets", "postgres-password");
    // The published ports require TLS: verified against the cluster's CA, as the agent does on the network.
    const caFile = workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt");
    const errors: string[] = [];
    metrics = createDatabaseMetrics({
      servers: [
        { node: "primary", host: "127.0.0.1", port: primaryPort },
        { node: "r1", host: "127.0.0.1", port: replicaPort },
      ],
      passwordFile,
      caFile,
      timeoutMs: 5_000,
      onError: (scope, error) => errors.push(`${scope}: ${String(error)}`),
    });
    const registry = metrics.registry;
    const scrape = async (): Promise<Series[]> => parseExposition(await registry.metrics());

    let series = await scrape();
    assert.equal(errors.length, 0, errors.join("\n"));
    assert.equal(get(series, "pg_up", { node: "primary" }), 1);
    assert.equal(get(series, "pg_up", { node: "r1" }), 1);
    assert.equal(get(series, "pg_replication_is_replica", { node: "primary" }), 0);
    assert.equal(get(series, "pg_replication_is_replica", { node: "r1" }), 1);
    assert.equal(get(series, "pg_database_size_bytes", { node: "primary", datname: "postgres" }), Number(await psql(primary, "SELECT pg_database_size('postgres')")));
    const xidAge = Number(await psql(primary, "SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'template0'"));
    assert.ok(Math.abs(get(series, "pgfort_database_xid_age", { node: "primary", datname: "template0" }) - xidAge) <= 5, `xid age vs psql's ${xidAge}`);

    // Connections: three of the test's own, idle in database postgres, as psql counts them.
    const idle = { node: "primary", datname: "postgres", state: "idle" };
    const idleByPsql = async (): Promise<number> => Number(await psql(primary, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND state = 'idle'"));
    const before = get(series, "pg_stat_activity_count", idle);
    assert.equal(before, await idleByPsql());
    const password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();
    for (let index = 0; index < 3; index++) {
      const client = new Client({ host: "127.0.0.1", port: primaryPort, user: "postgres", password, database: "postgres", application_name: "metrics-test", ssl: { ca: await readFile(caFile, "utf8") } });
      await client.connect();
      clients.push(client);
    }
    series = await scrape();
    assert.equal(get(series, "pg_stat_activity_count", idle), before + 3);
    assert.equal(get(series, "pg_stat_activity_count", idle), await idleByPsql());
    for (const client of clients.splice(0)) await client.end();
    // The backends exit just after the clients' Terminate message: give them a moment.
    const settled = Date.now() + 5_000;
    while (get((series = await scrape()), "pg_stat_activity_count", idle) !== before && Date.now() < settled) await sleep(100);
    assert.equal(get(series, "pg_stat_activity_count", idle), before);

    // A replica's lag after an insert: present, >= 0, small; bytes too.
    await psql(primary, "CREATE TABLE ticks AS SELECT generate_series(1, 10000) AS n");
    const deadline = Date.now() + 10_000;
    while ((await psql(r1, "SELECT count(*) FROM pg_class WHERE relname = 'ticks'")) !== "1" && Date.now() < deadline) await sleep(100);
    series = await scrape();
    const lagSeconds = get(series, "pg_replication_lag_seconds", { node: "primary", application_name: "r1" });
    assert.ok(lagSeconds >= 0 && lagSeconds < 5, `lag ${lagSeconds} s`);
    const lagBytes = get(series, "pg_stat_replication_pg_wal_lsn_diff", { node: "primary", application_name: "r1" });
    assert.ok(lagBytes >= 0 && lagBytes < 16 * 1024 ** 2, `lag ${lagBytes} bytes`);
    assert.equal(find(series, "pg_replication_lag_seconds", { node: "r1" }), undefined, "a standby reports no lag of its own");

    // Checkpoints: one requested by hand is counted.
    const requested = get(series, "pg_stat_bgwriter_checkpoints_req_total", { node: "primary" });
    await psql(primary, "CHECKPOINT");
    assert.equal(get(await scrape(), "pg_stat_bgwriter_checkpoints_req_total", { node: "primary" }), requested + 1);
    assert.equal(get(series, "pg_stat_archiver_archived_count", { node: "primary" }), Number(await psql(primary, "SELECT archived_count FROM pg_stat_archiver")));

    // The replica stopped: pg_up 0 at the next scrape, none of its other series; its slot now holds WAL back.
    await engineApi.getContainer(r1).stop({ t: 30 });
    errors.length = 0;
    await psql(primary, "CREATE TABLE ballast AS SELECT n, repeat('x', 500) AS pad FROM generate_series(1, 20000) AS n");
    series = await scrape();
    assert.equal(get(series, "pg_up", { node: "r1" }), 0);
    assert.equal(get(series, "pg_up", { node: "primary" }), 1);
    assert.deepEqual(series.filter((entry) => entry.labels["node"] === "r1").map((entry) => entry.name).sort(), ["pg_up", "pgfort_database_scrape_duration_seconds"]);
    assert.ok(errors.some((error) => error.startsWith("server r1: ")), errors.join("\n"));
    const retained = get(series, "pgfort_replication_slot_retained_wal_bytes", { node: "primary", slot_name: slotName("r1") });
    const retainedByPsql = Number(await psql(primary, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = '${slotName("r1")}'`));
    assert.ok(retained >= 10 * 1024 ** 2, `the slot holds back ${retained} bytes after 10+ MB of WAL`);
    assert.ok(retainedByPsql >= retained && retainedByPsql - retained < 1024 ** 2, `collector ${retained}, psql ${retainedByPsql}`);
    assert.equal(find(series, "pg_replication_lag_seconds", { application_name: "r1" }), undefined, "a disconnected standby has no lag series");
  });
});
