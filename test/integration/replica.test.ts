import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { docker, psql, engineApi } from "./postgres";
import { freePort, Workspace } from "./workspace";

const SMALL = "{ memory: 256m, cpus: 1 }";

async function clusterWith(replicas = "[]"): Promise<Workspace> {
  const port = await freePort();
  const workspace = await Workspace.create(
    (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: ${SMALL}\nreplicas: ${replicas}\n`,
  );
  await workspace.ok("up");
  return workspace;
}

/** Polls until `sql` on `container` returns `expected`, for at most `timeoutMs`. */
async function eventually(container: string, sql: string, expected: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = "";
  while (Date.now() - started <= timeoutMs) {
    last = await psql(container, sql);
    if (last === expected) return Date.now() - started;
    await sleep(20);
  }
  assert.fail(`${container}: ${sql} gave ${last}, not ${expected}, within ${timeoutMs} ms`);
}

async function streamingSlots(primary: string): Promise<string> {
  return psql(
    primary,
    "SELECT string_agg(s.slot_name || ':' || s.active || ':' || r.state, ',' ORDER BY s.slot_name) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid",
  );
}

describe("pgfort replica", function () {
  it("adds a hot standby that streams through its slot, sees inserts within a second, and refuses writes", async function () {
    const workspace = await clusterWith();
    const primary = `${workspace.cluster}-primary`;
    const r1 = `${workspace.cluster}-r1`;
    await workspace.ok("replica", "add", "r1");

    assert.equal(await psql(r1, "SELECT pg_is_in_recovery()"), "t");
    assert.equal(await streamingSlots(primary), "r1:true:streaming");
    assert.equal(await psql(primary, "SELECT application_name FROM pg_stat_replication"), "r1");

    await psql(primary, "CREATE TABLE events (id serial PRIMARY KEY, note text)");
    await eventually(r1, "SELECT count(*) FROM pg_class WHERE relname = 'events'", "1", 5000);
    await psql(primary, "INSERT INTO events (note) VALUES ('hello')");
    await eventually(r1, "SELECT coalesce(max(note), '') FROM events", "hello", 1000);

    const write = await (await docker()).exec(r1, ["psql", "-U", "postgres", "-c", "INSERT INTO events (note) VALUES ('no')"]);
    assert.notEqual(write.exitCode, 0);
    assert.match(write.stderr, /cannot execute INSERT in a read-only transaction/);

    const status = JSON.parse((await workspace.ok("status", "--json")).stdout) as {
      nodes: Array<{ node: string; role: string; replication: { state: string; lagBytes: number; walRetainedBytes: number; slotActive: boolean } | null }>;
    };
    const replica = status.nodes.find((node) => node.node === "r1");
    assert.equal(replica?.role, "replica");
    assert.equal(replica?.replication?.state, "streaming");
    assert.equal(replica?.replication?.slotActive, true);
    assert.equal(typeof replica?.replication?.lagBytes, "number");
    assert.equal(typeof replica?.replication?.walRetainedBytes, "number");
  });

  it("resumes streaming from its slot after docker restart, without a new base backup", async function () {
    const workspace = await clusterWith("[ { name: r1 } ]");
    const primary = `${workspace.cluster}-primary`;
    const r1 = `${workspace.cluster}-r1`;
    assert.equal(await streamingSlots(primary), "r1:true:streaming");
    await psql(primary, "CREATE TABLE ticks AS SELECT 1 AS n");

    const engine = await docker();
    await engineApi.getContainer(r1).stop({ t: 30 });
    await psql(primary, "INSERT INTO ticks SELECT generate_series(2, 1000)"); // written while r1 is down: kept by the slot
    await engineApi.getContainer(r1).start();
    await engine.waitUntilHealthy(r1);
    await eventually(primary, "SELECT coalesce(max(r.state), '') FROM pg_stat_replication r", "streaming", 30_000);
    await eventually(r1, "SELECT count(*) FROM ticks", "1000", 10_000);
    await engine.restartContainer(r1, 30);
    await engine.waitUntilHealthy(r1);
    await psql(primary, "INSERT INTO ticks VALUES (1001)");
    await eventually(r1, "SELECT count(*) FROM ticks", "1001", 10_000);
    const log = await engine.logTail(r1, 10_000);
    assert.equal(log.match(/base backup complete/g)?.length, 1, "a restart must not take a new base backup");
  });

  it("runs two replicas at once, and remove leaves no slot and no container", async function () {
    const workspace = await clusterWith("[ { name: r1 } ]");
    const primary = `${workspace.cluster}-primary`;
    await workspace.ok("replica", "add", "r2");
    assert.equal(await streamingSlots(primary), "r1:true:streaming,r2:true:streaming");
    await psql(primary, "CREATE TABLE t AS SELECT 42 AS answer");
    await eventually(`${workspace.cluster}-r1`, "SELECT count(*) FROM pg_class WHERE relname = 't'", "1", 5000);
    await eventually(`${workspace.cluster}-r2`, "SELECT count(*) FROM pg_class WHERE relname = 't'", "1", 5000);

    await workspace.ok("replica", "remove", "r2", "--volumes", "--yes");
    assert.equal(await psql(primary, "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"), "r1");
    const engine = await docker();
    assert.equal(await engine.containerExists(`${workspace.cluster}-r2`), false);
    assert.equal(await engine.volumeExists(`${workspace.cluster}-r2-data`), false);
    assert.equal(await streamingSlots(primary), "r1:true:streaming");
    const again = await workspace.run("replica", "remove", "r2", "--yes");
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /error: there is no replica r2/);
  });

  it("promotes a standby to a writable primary that status reports, fencing the old one", async function () {
    const workspace = await clusterWith("[ { name: r1 } ]");
    const primary = `${workspace.cluster}-primary`;
    const r1 = `${workspace.cluster}-r1`;
    await psql(primary, "CREATE TABLE orders AS SELECT generate_series(1, 10) AS id");
    await eventually(r1, "SELECT count(*) FROM pg_class WHERE relname = 'orders'", "1", 5000);
    await eventually(r1, "SELECT count(*) FROM orders", "10", 5000);

    const refused = await workspace.run("replica", "promote", "r1");
    assert.notEqual(refused.code, 0, "promoting while the primary runs must ask (no TTY: needs --yes)");
    assert.equal(await psql(r1, "SELECT pg_is_in_recovery()"), "t");

    await workspace.ok("replica", "promote", "r1", "--yes");
    assert.equal(await psql(r1, "SELECT pg_is_in_recovery()"), "f");
    await psql(r1, "INSERT INTO orders VALUES (11)");
    assert.equal(await psql(r1, "SELECT count(*) FROM orders"), "11");
    const engine = await docker();
    assert.equal((await engine.inspectContainerIfExists(primary))?.State.Running, false, "the old primary must be fenced");

    const status = JSON.parse((await workspace.ok("status", "--json")).stdout) as { nodes: Array<{ node: string; role: string }> };
    assert.equal(status.nodes.find((node) => node.node === "r1")?.role, "primary");
    assert.equal(status.nodes.find((node) => node.node === "primary")?.role, "former primary (fenced)");
    // later commands follow the new primary: a new replica streams from r1
    await workspace.ok("replica", "add", "r3");
    assert.equal(await streamingSlots(r1), "r3:true:streaming");
  });

  it("after promote, up re-creates the configured replicas from the new primary, never starts the old one, and is idempotent", async function () {
    const workspace = await clusterWith("[ { name: r1 }, { name: r2 } ]");
    const primary = `${workspace.cluster}-primary`;
    const r1 = `${workspace.cluster}-r1`;
    const r2 = `${workspace.cluster}-r2`;
    await psql(primary, "CREATE TABLE ledger AS SELECT 1 AS n");
    await eventually(r2, "SELECT count(*) FROM pg_class WHERE relname = 'ledger'", "1", 10_000);
    const r2Before = (await engineApi.getContainer(r2).inspect()).Id;

    await workspace.ok("replica", "promote", "r1", "--yes");
    const up = await workspace.ok("up");
    assert.match(up.stderr, new RegExp(`${r2} followed ${primary}: re-creating it from ${r1}`));

    // As Postgres itself reports it: r2 streams from r1, through a slot on r1.
    assert.equal(await psql(r1, "SELECT string_agg(application_name || ':' || state, ',') FROM pg_stat_replication"), "r2:streaming");
    assert.equal(await streamingSlots(r1), "r2:true:streaming");
    assert.match(await psql(r2, "SHOW primary_conninfo"), new RegExp(`host='${r1}'`));
    assert.equal(await psql(r2, "SELECT pg_is_in_recovery()"), "t");
    const r2After = (await engineApi.getContainer(r2).inspect()).Id;
    assert.notEqual(r2After, r2Before, "r2 followed the old primary: it must be a new container with a new base backup");
    await psql(r1, "INSERT INTO ledger VALUES (2)");
    await eventually(r2, "SELECT count(*) FROM ledger", "2", 10_000);
    const old = await engineApi.getContainer(primary).inspect();
    assert.equal(old.State.Running, false, "the fenced former primary must stay stopped");

    // A second up changes nothing: same containers, still streaming, the old primary still down.
    const again = JSON.parse((await workspace.ok("up", "--json")).stdout) as { nodes: Array<{ node: string; outcome: string }> };
    assert.deepEqual(again.nodes.map((node) => `${node.node}:${node.outcome}`), ["r2:unchanged"]);
    assert.equal((await engineApi.getContainer(r2).inspect()).Id, r2After);
    assert.equal((await engineApi.getContainer(primary).inspect()).State.Running, false);
    await psql(r1, "INSERT INTO ledger VALUES (3)");
    await eventually(r2, "SELECT count(*) FROM ledger", "3", 10_000);
    assert.equal(await psql(r1, "SELECT string_agg(application_name || ':' || state, ',') FROM pg_stat_replication"), "r2:streaming");
  });

  it("fails clearly and leaves nothing behind on a wrong password, a stopped primary, or a name in use", async function () {
    const workspace = await clusterWith();
    const primary = `${workspace.cluster}-primary`;
    const engine = await docker();
    // A replication role that exists with another password than pgfort's secret file.
    await psql(primary, "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'someone-elses'");
    const wrongPassword = await workspace.run("replica", "add", "r1");
    assert.notEqual(wrongPassword.code, 0);
    assert.match(wrongPassword.stderr, /password authentication failed for user "replicator"/);
    assert.equal(await psql(primary, "SELECT count(*) FROM pg_replication_slots"), "0");
    assert.equal(await engine.containerExists(`${workspace.cluster}-r1`), false);
    assert.equal(await engine.volumeExists(`${workspace.cluster}-r1-data`), false);

    await psql(primary, "DROP ROLE replicator");
    await workspace.ok("replica", "add", "r1");
    const inUse = await workspace.run("replica", "add", "r1");
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /error: .*-r1 already exists/);
    assert.equal(await streamingSlots(primary), "r1:true:streaming");

    await engine.stopContainer(primary, 30);
    const noPrimary = await workspace.run("replica", "add", "r2");
    assert.notEqual(noPrimary.code, 0);
    assert.match(noPrimary.stderr, /error: the primary .*-primary is not running/);
    assert.equal(await engine.containerExists(`${workspace.cluster}-r2`), false);
    await engine.startContainer(primary);
    await engine.waitUntilHealthy(primary);
    assert.equal(await psql(primary, "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"), "r1");
  });
});
