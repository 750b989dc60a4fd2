import assert from "node:assert/strict";
import { readFile, readdir, truncate, open } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, assertPgbenchConsistent, backupRun, listBackups, pgbench, readVerdicts, sha256File } from "./backup-helpers";
import { execFile } from "node:child_process";
import { docker, psql, runInImage } from "./postgres";

describe("pgfort backup (local directory)", function () {
  it("takes logical and physical backups under load that restore to consistent snapshots", async function () {
    const workspace = await appCluster();
    const load = pgbench(workspace, 25);
    await sleep(2000);
    const logical = await backupRun(workspace, "--kind", "logical");
    const physical = await backupRun(workspace, "--kind", "physical");
    await load;

    // The manifest's sha256s match the files, compressed with zstd by default.
    for (const manifest of [logical, physical]) {
      const directory = workspace.path("backups", workspace.cluster, manifest.kind, manifest.id);
      const files = (await readdir(directory)).sort();
      assert.deepEqual(files, [...manifest.files.map((file) => file.name), "manifest.json"].sort());
      for (const file of manifest.files) {
        assert.equal(await sha256File(path.join(directory, file.name)), file.sha256, file.name);
        assert.equal(file.compression, "zstd");
        assert.ok(file.rawBytes === null || file.rawBytes >= file.bytes);
      }
    }
    assert.deepEqual(logical.files.map((file) => file.name).sort(), ["app.pgcustom.zst", "globals.sql.zst", "postgres.pgcustom.zst"]);
    assert.equal(logical.rowCounts?.["app"]?.["public.pgbench_accounts"], 100000);
    assert.ok(physical.wal && /^[0-9A-F]+\/[0-9A-F]+$/.test(physical.wal.endLsn));

    // pg_restore reads the dump.
    const dumpDirectory = workspace.path("backups", workspace.cluster, "logical", logical.id);
    const listing = await runInImage(workspace.cluster, "zstd -dc /backup/app.pgcustom.zst | pg_restore --list", [`${dumpDirectory}:/backup:ro`]);
    assert.equal(listing.exitCode, 0, listing.output);
    assert.match(listing.output, /TABLE DATA public pgbench_accounts/);

    // restore --as: the data equals the snapshot (row counts of the dump's snapshot, pgbench's invariant).
    await workspace.ok("restore", logical.id, "--as", "restored-logical");
    const restoredLogical = `${workspace.cluster}-restored-logical`;
    for (const [table, rows] of Object.entries(logical.rowCounts?.["app"] ?? {})) {
      assert.equal(await psql(restoredLogical, `SELECT count(*) FROM ${table}`, { db: "app" }), String(rows), table);
    }
    await assertPgbenchConsistent(restoredLogical);

    await workspace.ok("restore", physical.id, "--as", "restored-physical");
    await assertPgbenchConsistent(`${workspace.cluster}-restored-physical`);
    assert.equal(await psql(`${workspace.cluster}-restored-physical`, "SHOW data_checksums"), "on");

    // The verify drill: pg_verifybackup accepts the extracted physical backup; row counts match the logical one.
    const verified = await workspace.ok("backup", "verify", physical.id);
    assert.match(verified.stdout, /ok {3}pg_verifybackup/);
    await workspace.ok("backup", "verify", logical.id);
    const listed = await listBackups(workspace);
    assert.deepEqual(listed.map((backup) => [backup.id, backup.status, backup.verified]).sort(), [
      [logical.id, "complete", "passed"],
      [physical.id, "complete", "passed"],
    ].sort());
    const status = JSON.parse((await workspace.ok("status", "--json")).stdout) as { backups: { logical: { id: string; verified: string }; physical: { id: string } } };
    assert.deepEqual([status.backups.logical.id, status.backups.logical.verified, status.backups.physical.id], [logical.id, "passed", physical.id]);
    const [verdict, ...others] = await readVerdicts(dumpDirectory);
    assert.equal(others.length, 0, "one verdict file per drill");
    assert.equal(verdict?.status, "passed");
    assert.ok(verdict?.checks.some((check) => check.name === "row counts app" && check.ok));
    assert.ok(verdict?.checks.some((check) => check.name === "pg_amcheck" && check.ok));
  });

  it("detects a flipped byte and a truncated file, and writes the failed verdict", async function () {
    const workspace = await appCluster();
    const flipped = await backupRun(workspace, "--kind", "logical", "--database", "app");
    const truncated = await backupRun(workspace, "--kind", "physical");

    const flippedFile = workspace.path("backups", workspace.cluster, "logical", flipped.id, "app.pgcustom.zst");
    const handle = await open(flippedFile, "r+");
    const middle = Math.floor((await handle.stat()).size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, middle);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, middle);
    await handle.close();
    // The parallel engine's first bundle (base.1.tar.zst): the largest.
    const baseFile = truncated.files.find((file) => file.content === "base")?.name ?? "base.1.tar.zst";
    await truncate(workspace.path("backups", workspace.cluster, "physical", truncated.id, baseFile), 1000);

    for (const [manifest, file] of [[flipped, "app.pgcustom.zst"], [truncated, baseFile]] as const) {
      const result = await workspace.run("backup", "verify", manifest.id);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, new RegExp(`FAIL sha256 ${file.replace(".", "\\.")}: expected`));
      const verdicts = await readVerdicts(workspace.path("backups", workspace.cluster, manifest.kind, manifest.id));
      assert.deepEqual(verdicts.map((verdict) => verdict.status), ["failed"]);
    }
    assert.deepEqual((await listBackups(workspace)).map((backup) => backup.verified), ["failed", "failed"]);
    const restore = await workspace.run("restore", flipped.id, "--as", "never");
    assert.notEqual(restore.code, 0);
    assert.equal(await (await docker()).containerExists(`${workspace.cluster}-never`), false, "nothing is restored from a damaged backup");
  });

  it("prune with keepLast 2 keeps the newest two", async function () {
    const workspace = await appCluster("backups:\n  retention: { keepLast: 2, daily: 0, weekly: 0, monthly: 0 }\n");
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      ids.push((await backupRun(workspace, "--kind", "logical", "--database", "postgres")).id);
      await sleep(1100); // ids are per second
    }
    const dry = await workspace.ok("backup", "prune", "--dry-run");
    assert.match(dry.stdout, new RegExp(`would delete ${ids[0]}`));
    assert.equal((await listBackups(workspace)).length, 3);
    await workspace.ok("backup", "prune");
    assert.deepEqual((await listBackups(workspace)).map((backup) => backup.id), [ids[2], ids[1]]);
    assert.deepEqual(await readdir(workspace.path("backups", workspace.cluster, "logical")), [ids[1], ids[2]].sort());
  });

  it("leaves no copy of the backup data on the Docker host outside the target", async function () {
    const workspace = await appCluster("backups:\n  compression: none\n");
    const marker = `pgfort-marker-${Date.now()}-${Math.random().toString(16).slice(2)}`;
    await psql(`${workspace.cluster}-primary`, `CREATE TABLE secrets AS SELECT '${marker}' || g AS payload FROM generate_series(1, 20000) g`, { db: "app" });
    const engine = await docker();
    const seen = new Map<string, { type: string; logPath: string }>();
    let done = false;
    const watching = (async () => {
      for (let round = 0; round < 600; round += 1) {
        const { containers } = await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`, "pgfort.role=backup"] });
        for (const container of containers) {
          const info = await engine.inspectContainerIfExists(container.Id);
          if (info) seen.set(info.Name, { type: info.HostConfig.LogConfig?.Type ?? "", logPath: info.LogPath });
        }
        if (done) return;
        await sleep(50);
      }
    })();
    // In the agent (docker exec), then, the agent stopped, in a one-off job container.
    const inAgent = await backupRun(workspace, "--kind", "logical", "--database", "app");
    await engine.stopContainer(`${workspace.cluster}-agent`);
    const manifest = await backupRun(workspace, "--kind", "logical", "--database", "app");
    done = true;
    await watching;
    assert.ok(seen.size > 0, "no backup container was seen");
    for (const [name, log] of seen) assert.deepEqual(log, { type: "none", logPath: "" }, name);
    // The uncompressed dump holds the marker in clear; no file of Docker's holds it.
    for (const id of [inAgent.id, manifest.id]) {
      const dump = await readFile(workspace.path("backups", workspace.cluster, "logical", id, "app.pgcustom"));
      assert.ok(dump.includes(marker), "the marker should be in the dump itself");
    }
    const grep = await runCommand("grep", ["-rl", "--", marker, "/var/lib/docker/containers"]);
    assert.equal(grep.stdout, "", `Docker kept a copy: ${grep.stdout}`);
  });
});

function runCommand(command: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => resolve({ code: error ? 1 : 0, stdout }));
  });
}
