// Incremental physical backups on PostgreSQL 17 (issue 12): a full backup, 1% of the rows
// changed, an incremental against it that is a fraction of its size; restore and the drill rebuild
// the chain with pg_combinebackup and the restored server holds exactly the primary's rows and pgbench's balance invariants; prune
// with keepLast 1 keeps the chain's full. Rows are compared with psql on both servers.
// Not in the run on 15 (npm run test:integration:15): 15 has no incrementals, its refusal is a unit test.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { BackupManifest } from "../../src/backup/manifest";
import { appCluster, assertPgbenchConsistent } from "./backup-helpers";
import { docker, psql } from "./postgres";

const CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(aid || ':' || abalance || ':' || filler, ',' ORDER BY aid)) FROM pgbench_accounts";

describe("incremental physical backups", function () {
  this.timeout(900_000);

  it("a full backup, then an incremental of 1% of the rows changed (one range): a fraction of the size, restored and drilled through the chain with pgbench's invariants; prune keeps its full", async function () {
    // pgbench scale 4: 400,000 accounts.
    const workspace = await appCluster("backups:\n  retention: { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }\n", 4);
    const primary = `${workspace.cluster}-primary`;
    const engine = await docker();
    const transactions = async (count: number) => {
      const run = await engine.exec(primary, ["pgbench", "-U", "postgres", "-n", "-c", "2", "-t", String(count), "app"]);
      assert.equal(run.exitCode, 0, run.stderr);
    };
    assert.equal(await psql(primary, "SHOW summarize_wal"), "on");
    await transactions(500);
    const run = async (...flags: string[]) => JSON.parse((await workspace.ok("backup", "run", "--kind", "physical", "--json", ...flags)).stdout) as BackupManifest;
    const full = await run();
    assert.equal(full.parent, null);
    await sleep(1100); // ids are per second
    // 1% of the accounts, one range (balances untouched, so pgbench's invariants still hold), and a
    // few more pgbench transactions that move money between random accounts.
    await psql(primary, "UPDATE pgbench_accounts SET filler = 'changed' WHERE aid <= 4000", { db: "app" });
    await transactions(20);
    const incremental = await run("--incremental");
    assert.equal(incremental.parent, full.id);
    const size = (manifest: BackupManifest) => manifest.files.find((file) => file.content === "base")?.bytes ?? 0;
    assert.ok(size(incremental) < size(full) / 4, `incremental ${size(incremental)} B, full ${size(full)} B`);
    const expected = await psql(primary, CHECKSUM, { db: "app" });

    const list = JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ id: string; parent: string | null }>;
    assert.equal(list.find((entry) => entry.id === incremental.id)?.parent, full.id);

    const restored = await workspace.ok("restore", incremental.id, "--as", "inc");
    assert.match(restored.stderr, /extracting the incremental chain of 2 backups/);
    const copy = `${workspace.cluster}-inc`;
    assert.equal(await psql(copy, CHECKSUM, { db: "app" }), expected, "the restored chain holds the primary's rows");
    assert.equal(await psql(copy, "SELECT count(*) FROM pgbench_accounts WHERE filler = 'changed'", { db: "app" }), "4000");
    assert.notEqual(await psql(copy, "SELECT count(*) FROM pgbench_history", { db: "app" }), "0");
    await assertPgbenchConsistent(copy);

    const drill = await workspace.ok("backup", "verify", incremental.id);
    assert.match(drill.stdout, /ok {3}pg_combinebackup/);
    assert.match(drill.stdout, /ok {3}pg_amcheck/);

    // keepLast 1 keeps the incremental, and so the full it needs.
    await workspace.ok("backup", "prune");
    const left = (JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ id: string; status: string }>).filter((entry) => entry.status === "complete");
    assert.deepEqual(left.map((entry) => entry.id).sort(), [full.id, incremental.id].sort());
  });
});
