// The host's hand-off (src/handoff): a backup taken by a one-off container of the agent image (no
// agent running) and one taken by `docker exec` into a running agent container have the same
// manifest fields; a backup written by the previous version (host-streamed, formatVersion 1)
// still lists and restores.
import assert from "node:assert/strict";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { appCluster, backupRun, listBackups, type Manifest } from "./backup-helpers";
import { engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";

/**
 * The fixture: a logical backup of a database `app` (table items, 1234 rows; role appuser) taken
 * by the previous version's host-streamed path, with the verdict its drill wrote, and that test
 * cluster's generated passwords (the globals set the superuser's: a restore then needs the same).
 */
const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "backup-v1");
const V1_FIXTURE = path.join(FIXTURES, "20261202T003513Z-bf8b84");

function shape(manifest: Manifest): unknown {
  const record = manifest as unknown as Record<string, unknown>;
  return {
    keys: Object.keys(record).sort(),
    files: manifest.files.map((file) => ({ keys: Object.keys(file).sort(), name: file.name, compression: file.compression })),
    compression: record["compression"],
    source: record["source"],
    formatVersion: record["formatVersion"],
  };
}

describe("pgfort backup: the hand-off to a job container", function () {
  it("a one-off job container and docker exec into the agent take backups with the same manifest fields", async function () {
    const workspace = await appCluster();
    // `up` started the agent: the CLI execs into it.
    const inAgent = { logical: await workspace.ok("--json", "backup", "run", "--kind", "logical"), physical: await workspace.ok("--json", "backup", "run", "--kind", "physical") };
    for (const run of Object.values(inAgent)) assert.match(run.stderr, /running in the agent/);
    await engineApi.getContainer(`${workspace.cluster}-agent`).stop();
    const oneOff = { logical: await workspace.ok("--json", "backup", "run", "--kind", "logical"), physical: await workspace.ok("--json", "backup", "run", "--kind", "physical") };
    for (const run of Object.values(oneOff)) assert.match(run.stderr, /running in a one-off job container/);
    for (const kind of ["logical", "physical"] as const) {
      const [viaOneOff, viaAgent] = [JSON.parse(oneOff[kind].stdout) as Manifest, JSON.parse(inAgent[kind].stdout) as Manifest];
      assert.deepEqual(shape(viaAgent), shape(viaOneOff), kind);
      assert.notEqual(viaAgent.id, viaOneOff.id);
      const stored = JSON.parse(await readFile(workspace.path("backups", workspace.cluster, kind, viaAgent.id, "manifest.json"), "utf8")) as Manifest;
      assert.deepEqual(stored, JSON.parse(inAgent[kind].stdout));
    }
    // Both list as complete; the agent's logical backup restores with pgbench's rows.
    const listed = await listBackups(workspace);
    assert.equal(listed.filter((backup) => backup.status === "complete").length, 4);
    const logical = JSON.parse(inAgent.logical.stdout) as Manifest;
    await workspace.ok("restore", logical.id, "--as", "from-agent");
    assert.equal(await psql(`${workspace.cluster}-from-agent`, "SELECT count(*) FROM pgbench_accounts", { db: "app" }), "100000");
  });

  it("a backup taken by the previous version (formatVersion 1, streamed by the host) still lists and restores", async function () {
    const port = await freePort();
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\n`);
    await cp(path.join(FIXTURES, "secrets"), workspace.path(".pgfort", workspace.cluster, "secrets"), { recursive: true });
    await workspace.ok("up");
    await psql(`${workspace.cluster}-primary`, "CREATE DATABASE app");
    const id = path.basename(V1_FIXTURE);
    const directory = workspace.path("backups", workspace.cluster, "logical", id);
    await cp(V1_FIXTURE, directory, { recursive: true });
    // The fixture was taken of cluster tjobsv1: it is this cluster's now (the files' sha256 are unchanged).
    const manifest = JSON.parse(await readFile(path.join(directory, "manifest.json"), "utf8")) as Record<string, unknown>;
    assert.equal(manifest["formatVersion"], 1);
    await writeFile(path.join(directory, "manifest.json"), `${JSON.stringify({ ...manifest, cluster: workspace.cluster }, null, 2)}\n`);
    const listed = await listBackups(workspace);
    assert.deepEqual(listed.map((backup) => [backup.id, backup.kind, backup.status, backup.verified]), [[id, "logical", "complete", "passed"]]);
    await workspace.ok("restore", id, "--as", "old");
    const restored = `${workspace.cluster}-old`;
    assert.equal(await psql(restored, "SELECT count(*) FROM items", { db: "app" }), "1234");
    assert.equal(await psql(restored, "SELECT name FROM items WHERE id = 1234", { db: "app" }), "item 1234");
    assert.equal(await psql(restored, "SELECT count(*) FROM pg_roles WHERE rolname = 'appuser'"), "1");
    // A new backup beside it (the job container writes where the host wrote before), then prune keeps both.
    const fresh = await backupRun(workspace, "--kind", "logical", "--database", "app");
    assert.deepEqual((await readdir(workspace.path("backups", workspace.cluster, "logical"))).sort(), [id, fresh.id].sort());
    await workspace.ok("backup", "prune");
    assert.equal((await listBackups(workspace)).length, 2);
  });
});
