// Issue 9, acceptance 3 and 4: corrupt manifests are incomplete backups (never a crash), and pages
// corrupted on disk never give a complete, passed backup. Asserts with the filesystem and psql.
import assert from "node:assert/strict";
import { cp, readdir, readFile, stat, truncate, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, backupRun, listBackups, readVerdicts } from "./backup-helpers";
import { createVictim, flipBlock, stopAndCorrupt } from "./corrupt-data";
import { psql } from "./postgres";
import type { Workspace } from "./workspace";

interface Listed {
  id: string;
  status: string;
  reason: string | null;
  verified: string | null;
}

async function listJson(workspace: Workspace): Promise<Listed[]> {
  return JSON.parse((await workspace.ok("--json", "backup", "list")).stdout) as Listed[];
}

function entry(listed: Listed[], id: string): Listed {
  const found = listed.find((candidate) => candidate.id === id);
  assert.ok(found, `backup ${id} is not listed: ${JSON.stringify(listed)}`);
  return found;
}

describe("corrupt state and corrupt data", function () {
  it("lists corrupt manifests as incomplete with the reason, and list, prune, verify --latest, status and restore still work", async function () {
    const workspace = await appCluster();
    const backups = workspace.path("backups", workspace.cluster, "logical");
    const good = await backupRun(workspace, "--kind", "logical", "--database", "app");
    await sleep(1100); // ids are per second: keep the order certain
    const wrongSha = await backupRun(workspace, "--kind", "logical", "--database", "app");
    await sleep(1100);
    const truncated = await backupRun(workspace, "--kind", "logical", "--database", "app");
    await sleep(1100);
    const empty = await backupRun(workspace, "--kind", "logical", "--database", "app");

    const truncatedManifest = path.join(backups, truncated.id, "manifest.json");
    await truncate(truncatedManifest, Math.floor((await stat(truncatedManifest)).size / 2));
    await writeFile(path.join(backups, empty.id, "manifest.json"), "{}");
    const wrongManifestFile = path.join(backups, wrongSha.id, "manifest.json");
    const manifest = JSON.parse(await readFile(wrongManifestFile, "utf8")) as { files: Array<{ name: string; sha256: string }> };
    const damaged = manifest.files.find((file) => file.name === "app.pgcustom.zst");
    assert.ok(damaged);
    damaged.sha256 = damaged.sha256.replace(/^./, (first) => (first === "0" ? "1" : "0"));
    await writeFile(wrongManifestFile, JSON.stringify(manifest));
    // A copy of a good backup under another id: its manifest names another directory.
    const copiedId = good.id.replace(/-[0-9a-f]{6}$/, "-abcdef");
    await cp(path.join(backups, good.id), path.join(backups, copiedId), { recursive: true });

    let listed = await listJson(workspace);
    assert.equal(entry(listed, truncated.id).status, "incomplete");
    assert.match(entry(listed, truncated.id).reason ?? "", /manifest\.json is not JSON/);
    assert.equal(entry(listed, empty.id).status, "incomplete");
    assert.match(entry(listed, empty.id).reason ?? "", /manifest\.json is not a valid file of its kind \(formatVersion: .*id: /);
    assert.equal(entry(listed, copiedId).status, "incomplete");
    assert.match(entry(listed, copiedId).reason ?? "", /belongs to another backup: id "/);
    assert.equal(entry(listed, wrongSha.id).status, "complete");
    assert.equal(entry(listed, good.id).status, "complete");
    const human = await workspace.ok("backup", "list");
    assert.match(human.stdout, new RegExp(`^${truncated.id} .*incomplete .*\\(.*is not JSON`, "m"));

    // verify --latest: the newest complete one (the wrong sha256), failed with the file's name (exit 1).
    const latest = await workspace.run("backup", "verify", "--latest");
    assert.equal(latest.code, 1, latest.stderr);
    assert.match(latest.stdout, new RegExp(`^backup ${wrongSha.id}: verify FAILED`, "m"));
    assert.match(latest.stdout, /FAIL sha256 app\.pgcustom\.zst: expected/);
    assert.deepEqual((await readVerdicts(path.join(backups, wrongSha.id))).map((verdict) => verdict.status), ["failed"]);
    await workspace.ok("backup", "verify", good.id);

    // An older verify.json of the earlier format is still read; the newest verdict counts.
    await writeFile(path.join(backups, good.id, "verify.json"), JSON.stringify({ id: good.id, ok: false, verifiedAt: "2020-01-01T00:00:00.000Z", checks: [], tool: { name: "pgfort", version: "0.0.1" } }));
    listed = await listJson(workspace);
    assert.equal(entry(listed, good.id).verified, "passed");
    assert.equal(entry(listed, wrongSha.id).verified, "failed");

    const status = JSON.parse((await workspace.ok("status", "--json")).stdout) as { backups: { logical: { id: string; verified: string | null } | null } };
    assert.deepEqual(status.backups.logical, { ...status.backups.logical, id: wrongSha.id, verified: "failed" });

    const restore = await workspace.run("restore", truncated.id, "--as", "never");
    assert.equal(restore.code, 1, restore.stderr);
    assert.match(restore.stderr, new RegExp(`^error: backup ${truncated.id} of cluster .* is incomplete: .*is not JSON`, "m"));

    // prune: young incomplete backups are kept; one whose files are older than a day is deleted.
    await workspace.ok("backup", "prune");
    assert.deepEqual((await readdir(backups)).sort(), [good.id, wrongSha.id, truncated.id, empty.id, copiedId].sort());
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3_600_000);
    for (const file of await readdir(path.join(backups, empty.id))) await utimes(path.join(backups, empty.id, file), twoDaysAgo, twoDaysAgo);
    await workspace.ok("backup", "prune");
    assert.deepEqual((await readdir(backups)).sort(), [good.id, wrongSha.id, truncated.id, copiedId].sort());

    // An unreadable verdict makes the verdict unknown (never "passed" over a lost "failed"); the backup stays complete.
    await writeFile(path.join(backups, good.id, "verify.json"), '{"id": "');
    listed = await listJson(workspace);
    assert.equal(entry(listed, good.id).status, "complete");
    assert.equal(entry(listed, good.id).verified, null);
    assert.match(entry(listed, good.id).reason ?? "", /verdict unknown: .*verify\.json is not JSON/);
  });

  it("pages corrupted on disk: the physical and the logical backup fail naming the file and the table", async function () {
    const workspace = await appCluster();
    const { table, index } = await createVictim(workspace);
    await stopAndCorrupt(workspace, [flipBlock(table), flipBlock(index)]);
    const physical = await workspace.run("backup", "run", "--kind", "physical");
    assert.notEqual(physical.code, 0);
    // Named as the operator knows them, with the file pg_basebackup reported.
    assert.match(physical.stderr, new RegExp(`app\\.public\\.victim \\(${table}, block 1\\)`));
    assert.match(physical.stderr, new RegExp(`app\\.public\\.victim_pkey \\(${index}, block 1\\)`));
    const logical = await workspace.run("backup", "run", "--kind", "logical", "--database", "app");
    assert.notEqual(logical.code, 0);
    assert.match(logical.stderr, /table "victim"|relation "public\.victim"|victim/);
    assert.match(logical.stderr, new RegExp(`invalid page in block 1 of relation ${table}`));
    const listed = await listBackups(workspace);
    assert.deepEqual(listed.filter((backup) => backup.status === "complete"), [], "never a complete backup of corrupt pages");
  });

  it("pg_amcheck in the drill: a corrupt index page without data checksums gives a complete backup whose verify fails naming the index", async function () {
    const workspace = await appCluster();
    const { index } = await createVictim(workspace);
    await stopAndCorrupt(workspace, [flipBlock(index)], { disableChecksums: true });
    assert.equal(await psql(`${workspace.cluster}-primary`, "SHOW data_checksums"), "off");
    const physical = await backupRun(workspace, "--kind", "physical");
    const verify = await workspace.run("backup", "verify", physical.id);
    assert.equal(verify.code, 1, `${verify.stderr}\n${verify.stdout}`);
    assert.match(verify.stdout, /FAIL pg_amcheck: corruption in btree index app\.public\.victim_pkey/);
    const directory = workspace.path("backups", workspace.cluster, "physical", physical.id);
    const verdicts = await readVerdicts(directory);
    assert.deepEqual(verdicts.map((verdict) => verdict.status), ["failed"]);
    assert.equal((await listBackups(workspace)).find((backup) => backup.id === physical.id)?.verified, "failed");
  });
});
