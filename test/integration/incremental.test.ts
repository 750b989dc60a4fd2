// Incremental physical backups on PostgreSQL 17 (issue 12): a full backup, 1% of the rows
// changed, an incremental against it that is a fraction of its size; restore and the drill rebuild
// the chain with pg_combinebackup and the restored server holds exactly the primary's rows; prune
// with keepLast 1 keeps the chain's full. Rows are compared with psql on both servers.
// Not in the run on 15 (npm run test:integration:15): 15 has no incrementals, its refusal is a unit test.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { BackupManifest } from "../../src/backup/manifest";
import { psql } from "./postgres";
import { Workspace } from "./workspace";

const CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(id::text || ':' || v, ',' ORDER BY id)) FROM items";

describe("incremental physical backups", function () {
  this.timeout(900_000);

  it("a full backup, then an incremental of 1% of the rows changed (one range): a fraction of the size, restored and drilled through the chain; prune keeps its full", async function () {
    const workspace = await Workspace.create(
      (cluster) => `cluster: ${cluster}\nprimary:\n  resources: { memory: 512m, cpus: 1 }\nbackups:\n  retention: { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }\n`,
    );
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    assert.equal(await psql(primary, "SHOW summarize_wal"), "on");
    await psql(primary, "CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 400000) g");
    const run = async (...flags: string[]) => JSON.parse((await workspace.ok("backup", "run", "--kind", "physical", "--json", ...flags)).stdout) as BackupManifest;
    const full = await run();
    assert.equal(full.parent, null);
    await sleep(1100); // ids are per second
    await psql(primary, "UPDATE items SET v = 'changed' WHERE id <= 4000");
    const incremental = await run("--incremental");
    assert.equal(incremental.parent, full.id);
    const size = (manifest: BackupManifest) => manifest.files.find((file) => file.content === "base")?.bytes ?? 0;
    assert.ok(size(incremental) < size(full) / 4, `incremental ${size(incremental)} B, full ${size(full)} B`);
    const expected = await psql(primary, CHECKSUM);

    const list = JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ id: string; parent: string | null }>;
    assert.equal(list.find((entry) => entry.id === incremental.id)?.parent, full.id);

    const restored = await workspace.ok("restore", incremental.id, "--as", "inc");
    assert.match(restored.stderr, /extracting the incremental chain of 2 backups/);
    assert.equal(await psql(`${workspace.cluster}-inc`, CHECKSUM), expected, "the restored chain holds the primary's rows");
    assert.equal(await psql(`${workspace.cluster}-inc`, "SELECT count(*) FROM items WHERE v = 'changed'"), "4000");

    const drill = await workspace.ok("backup", "verify", incremental.id);
    assert.match(drill.stdout, /ok {3}pg_combinebackup/);
    assert.match(drill.stdout, /ok {3}pg_amcheck/);

    // keepLast 1 keeps the incremental, and so the full it needs.
    await workspace.ok("backup", "prune");
    const left = (JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ id: string; status: string }>).filter((entry) => entry.status === "complete");
    assert.deepEqual(left.map((entry) => entry.id).sort(), [full.id, incremental.id].sort());
  });
});
