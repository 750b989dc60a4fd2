// Point-in-time recovery (issue 11): a physical backup plus the agent's WAL archive restores to a
// time, an LSN, a named point, or the end of the archive; a time outside the window fails with the
// window; and a primary killed with its volumes deleted comes back to within archive_timeout + 10 s
// of its last commit. Rows are read from the restored servers with psql.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { BackupManifest } from "../../src/backup/manifest";
import { readdir } from "node:fs/promises";
import { parseWalFileName, segmentOfLsn } from "../../src/wal/names";
import { connectTcp, docker, engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";
import { archiveNow } from "./waiting";

const ISO_NOW = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

async function pitrCluster(): Promise<{ workspace: Workspace; port: number }> {
  const port = await freePort();
  const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\nwal: { archiveTimeout: 10s }\n`);
  await workspace.ok("up");
  return { workspace, port };
}

async function physicalBackup(workspace: Workspace): Promise<BackupManifest> {
  const result = await workspace.ok("backup", "run", "--kind", "physical", "--json");
  return JSON.parse(result.stdout) as BackupManifest;
}


async function ids(container: string): Promise<number[]> {
  const text = await psql(container, "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM marks");
  return text === "" ? [] : text.split(",").map(Number);
}

describe("point-in-time recovery", function () {
  this.timeout(900_000);

  it("restores to a time, an LSN, a restore point and the end of the archive; outside the window fails with the window", async function () {
    const { workspace } = await pitrCluster();
    const primary = `${workspace.cluster}-primary`;
    await psql(primary, "CREATE TABLE marks(id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    const base = await physicalBackup(workspace);
    const insert = (id: number) => psql(primary, `INSERT INTO marks(id) VALUES (${id})`);
    await insert(1);
    await sleep(1000);
    const afterOne = await psql(primary, `SELECT ${ISO_NOW}`);
    await sleep(1000);
    await insert(2);
    await insert(3);
    await workspace.ok("restore-point", "before-four");
    await insert(4);
    const afterFour = await psql(primary, "SELECT pg_current_wal_lsn()");
    await insert(5);
    // After the last commit: the archive may hold no transaction that ends after it.
    const afterAll = await psql(primary, `SELECT ${ISO_NOW}`);
    await archiveNow(primary);

    const restored = async (name: string, ...flags: string[]) => {
      const result = await workspace.ok("restore", "--as", name, ...flags);
      return { rows: await ids(`${workspace.cluster}-${name}`), output: result.stdout };
    };
    const byTime = await restored("at-time", "--to", afterOne);
    assert.deepEqual(byTime.rows, [1], "exactly the rows committed at or before T");
    assert.match(byTime.output, /recovery stopping before commit of transaction/);
    assert.deepEqual((await restored("at-name", "--to-name", "before-four")).rows, [1, 2, 3]);
    assert.deepEqual((await restored("at-lsn", "--to-lsn", afterFour)).rows, [1, 2, 3, 4]);
    assert.deepEqual((await restored("at-end", "--latest")).rows, [1, 2, 3, 4, 5]);
    assert.deepEqual((await restored("after-all", "--to", afterAll)).rows, [1, 2, 3, 4, 5], "a time after the last archived commit");
    // The restored server is a primary of its own, on a new timeline, taking writes.
    assert.equal(await psql(`${workspace.cluster}-at-end`, "SELECT pg_is_in_recovery()"), "f");
    assert.equal(await psql(`${workspace.cluster}-at-end`, "INSERT INTO marks(id) VALUES (6) RETURNING id"), "6\nINSERT 0 1");

    const future = new Date(Date.now() + 3_600_000).toISOString();
    const outside = await workspace.run("restore", "--as", "never", "--to", future);
    assert.notEqual(outside.code, 0);
    assert.match(outside.stderr, /outside the recoverable window: .* to .*WAL 0000/);
    assert.equal(await (await docker()).inspectContainerIfExists(`${workspace.cluster}-never`), undefined, "nothing left behind");

    // backup list shows the window, from the physical backup to the newest archived WAL.
    const list = JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ window: { from: { backupId: string } | null; to: { segment: string } | null; gaps: unknown[] } }>;
    assert.ok(list[0]?.window.from && list[0].window.to, JSON.stringify(list[0]?.window));
    assert.deepEqual(list[0].window.gaps, []);

    // The PITR drill: a random point of the window, the drill's checks there, a verdict beside the base.
    const drill = await workspace.ok("backup", "verify", "--pitr");
    assert.match(drill.stdout, new RegExp(`backup ${base.id}: verify passed`));
    assert.match(drill.stdout, /ok {3}point-in-time recovery: replayed [1-9]\d* archived WAL file\(s\) to time /);
    assert.match(drill.stdout, /ok {3}pg_amcheck/);
    const verdicts = (await readdir(workspace.path("backups", workspace.cluster, "physical", base.id))).filter((name) => name.startsWith("verify-"));
    assert.equal(verdicts.length, 1);

    // Retention knows the chain: WAL before the kept backup's start goes, what it needs stays.
    const startSegment = segmentOfLsn(base.wal?.startLsn ?? "0/0");
    const segmentsNow = async () =>
      (await readdir(workspace.path("backups", workspace.cluster, "wal"))).flatMap((name) => {
        const wal = parseWalFileName(name.split(".")[0] ?? "");
        return wal?.segment !== undefined && /^[0-9A-F]{24}\.[0-9a-f]{64}/.test(name) ? [wal.segment] : [];
      });
    assert.ok((await segmentsNow()).some((segment) => segment < startSegment), "WAL from before the backup was archived");
    await workspace.ok("backup", "prune");
    const after = await segmentsNow();
    assert.ok(after.every((segment) => segment >= startSegment), "nothing older than the kept backup's start");
    assert.ok(after.includes(startSegment) && after.length >= 2, "what the kept backup needs stays");
  });

  it("after replica promote, archiving follows the new timeline and restore --latest replays across it", async function () {
    const port = await freePort();
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\nreplicas: [ { name: r1 } ]\nwal: { archiveTimeout: 10s }\n`);
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    const promoted = `${workspace.cluster}-r1`;
    await psql(primary, "CREATE TABLE marks(id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    await physicalBackup(workspace);
    await psql(primary, "INSERT INTO marks(id) VALUES (1), (2)");
    await archiveNow(primary);
    await workspace.ok("replica", "promote", "r1", "--yes");
    assert.equal(await psql(promoted, "SELECT pg_is_in_recovery()"), "f");
    await psql(promoted, "INSERT INTO marks(id) VALUES (3)");
    await archiveNow(promoted);
    // The new timeline's history file and its WAL are in the archive, stored by the new primary.
    const names = await readdir(workspace.path("backups", workspace.cluster, "wal"));
    assert.ok(names.some((name) => name.startsWith("00000002.history.")), names.join(", "));
    assert.ok(names.some((name) => /^00000002[0-9A-F]{16}\./.test(name)), names.join(", "));
    // From the backup taken on timeline 1, through the promotion, to the end of timeline 2.
    const across = await workspace.ok("restore", "--as", "across", "--latest");
    assert.deepEqual(await ids(`${workspace.cluster}-across`), [1, 2, 3], across.stdout);
    assert.match(across.stdout, /new timeline 3/);
  });

  it("autopilot: with bootstrap restore-latest, up on a deleted primary restores the verified backup and all archived WAL", async function () {
    const port = await freePort();
    const workspace = await Workspace.create(
      (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\n  bootstrap: restore-latest\nwal: { archiveTimeout: 10s }\n`,
    );
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    await psql(primary, "CREATE TABLE marks(id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    await psql(primary, "INSERT INTO marks(id) VALUES (1)");
    const base = await physicalBackup(workspace);
    await psql(primary, "INSERT INTO marks(id) VALUES (2), (3)");
    const last = await psql(primary, "SELECT pg_walfile_name(pg_current_wal_lsn())");
    await archiveNow(primary);
    const engine = await docker();
    const lose = async () => {
      await engine.removeContainer(primary);
      for (const volume of [`${primary}-data`, `${primary}-wal`]) await engine.removeVolume(volume);
    };
    await lose();
    // No drill has passed: up refuses, and leaves no half-filled volume.
    const refused = await workspace.run("up");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /no physical backup of .* has passed a restore drill/);
    assert.match(refused.stderr, new RegExp(`pgfort backup verify ${base.id}`));
    assert.equal(await engine.volumeExists(`${primary}-data`), false);

    await workspace.ok("backup", "verify", base.id);
    const up = await workspace.ok("up");
    assert.match(up.stdout, new RegExp(`restored the primary from physical backup ${base.id} and [1-9]\\d* archived WAL file`));
    assert.match(up.stdout, new RegExp(`recoverable window: .* \\(backup ${base.id}\\) to .*WAL ${last}`), "the printed window ends at the last archived WAL");
    assert.match(up.stdout, /data-loss window: whatever was committed after /);
    assert.deepEqual(await ids(primary), [1, 2, 3]);
    assert.equal(await psql(primary, "SELECT pg_is_in_recovery()"), "f");
    // It is the cluster's primary again: it takes writes and archives them.
    await psql(primary, "INSERT INTO marks(id) VALUES (4)");
    await archiveNow(primary);
  });

  it("RPO: a primary killed with its volumes deleted is restored to within archive_timeout + 10 s of its last commit", async function () {
    const { workspace, port } = await pitrCluster();
    const primary = `${workspace.cluster}-primary`;
    await psql(primary, "CREATE TABLE ticks(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    await physicalBackup(workspace);
    const password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();
    const client = await connectTcp(port, "postgres", password, "postgres", workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt"));
    client.on("error", () => undefined);
    let lastCommitted = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          await client.query("INSERT INTO ticks DEFAULT VALUES");
          lastCommitted = Date.now();
        } catch {
          return; // the primary was killed
        }
        await sleep(100);
      }
    })();
    await sleep(45_000);
    await engineApi.getContainer(primary).kill();
    writing = false;
    await writer;
    await client.end().catch(() => undefined);
    const engine = await docker();
    await engine.removeContainer(primary);
    for (const volume of [`${primary}-data`, `${primary}-wal`]) await engine.removeVolume(volume);

    const result = await workspace.ok("restore", "--as", "rescued", "--latest");
    const newest = Number(await psql(`${workspace.cluster}-rescued`, "SELECT (extract(epoch FROM max(at)) * 1000)::bigint FROM ticks"));
    const lostSeconds = (lastCommitted - newest) / 1000;
    console.log(`      RPO: last commit ${new Date(lastCommitted).toISOString()}, newest restored row ${new Date(newest).toISOString()}: ${lostSeconds.toFixed(1)} s lost`);
    assert.ok(lostSeconds <= 10 + 10, `${lostSeconds} s of commits lost; archive_timeout is 10 s\n${result.stdout}`);
    assert.ok(Number(await psql(`${workspace.cluster}-rescued`, "SELECT count(*) FROM ticks")) > 100);
  });
});
