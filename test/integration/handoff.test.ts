// The host's hand-off (src/handoff): a backup taken by a one-off container of the agent image (no
// agent running) and one taken by `docker exec` into a running agent container have the same
// manifest fields; a backup written by the previous version (host-streamed, formatVersion 1)
// still lists and restores.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
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

  it("in the agent, jobs run in the agent's own process and reach the primary on its socket, not over the network", async function () {
    const workspace = await appCluster();
    const primary = `${workspace.cluster}-primary`;
    // Asked of the server while the backups run: its sessions of pg_dump and pg_basebackup, by
    // whether they came over a Unix socket (no client address) or TCP; a sample every ~20 ms.
    const query = "SELECT string_agg(DISTINCT application_name || ':' || CASE WHEN client_addr IS NULL THEN 'socket' ELSE 'tcp' END, ',') FROM pg_stat_activity WHERE application_name IN ('pg_dump', 'pg_basebackup')";
    const loop = `rm -f /tmp/stop-watch; while [ ! -e /tmp/stop-watch ]; do psql -U postgres -XAtqc "${query}"; sleep 0.02; done`;
    const watcher = spawn("docker", ["exec", primary, "bash", "-c", loop], { stdio: ["ignore", "pipe", "inherit"] });
    let samples = "";
    watcher.stdout.on("data", (chunk: Buffer) => (samples += chunk.toString()));
    const stopped = new Promise((resolve) => watcher.once("exit", resolve));
    try {
      for (const kind of ["logical", "physical"]) assert.match((await workspace.ok("--json", "backup", "run", "--kind", kind)).stderr, /running in the agent/);
    } finally {
      await engineApi.getContainer(primary).exec({ Cmd: ["touch", "/tmp/stop-watch"] }).then((exec) => exec.start({})).catch(() => undefined);
      await stopped;
    }
    const seen = new Set(samples.split(/[\n,]/).filter((sample) => /^pg_(dump|basebackup):/.test(sample)));
    assert.deepEqual([...seen].sort(), ["pg_basebackup:socket", "pg_dump:socket"], samples.slice(0, 2000));
    // The agent's own log names the jobs it ran for the host (no new Node process per job).
    const logs = (await engineApi.getContainer(`${workspace.cluster}-agent`).logs({ stdout: true, stderr: true })).toString();
    assert.match(logs, /running `pgfort job backup --kind logical/);
    assert.match(logs, /running `pgfort job backup --kind physical/);
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
