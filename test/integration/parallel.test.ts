// The parallel physical engine (issue 15, `backups.physical.engine: parallel`) on a real cluster:
// backups taken while pgbench writes, each restored as a server and checked with PostgreSQL's own
// tools (pgbench's invariant, pg_amcheck --heapallindexed, pg_checksums --check on the stopped
// copy); a page corrupted on disk fails the backup naming file and block; S3; and the fallback to
// pg_basebackup where the data volume the job sees is not the running primary's.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, assertPgbenchConsistent, backupRun, type Manifest } from "./backup-helpers";
import { docker, engineApi, IMAGE, psql } from "./postgres";
import { createVictim, flipBlock, stopAndCorrupt } from "./corrupt-data";
import { runCli } from "./cli";
import { startS3 } from "./s3";
import type { Workspace } from "./workspace";
import { nodeVolumes } from "../../src/docker/names";
import { DATA_DIR } from "../../src/cluster/plan";

/** pgbench against app until `stop` is called; resolves when it has ended, rejecting on an error of its own. */
function pgbenchUntilStopped(workspace: Workspace): { stop(): Promise<void> } {
  const container = `${workspace.cluster}-primary`;
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const run = await (await docker()).exec(container, ["pgbench", "-U", "postgres", "-n", "-c", "2", "-T", "5", "app"]);
      assert.equal(run.exitCode, 0, run.stderr);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/** pg_checksums --check on a stopped server's data volume, as the postgres user (999). */
async function checksumsOfVolume(cluster: string, volume: string): Promise<{ exitCode: number; output: string }> {
  const engine = await docker();
  const name = `${cluster}-checksums-${Math.random().toString(16).slice(2, 8)}`;
  await engine.createAndStart({
    name,
    Image: IMAGE,
    User: "999:999",
    Entrypoint: ["pg_checksums", "--check", "-D", DATA_DIR],
    Labels: { "pgfort.cluster": cluster },
    HostConfig: { Binds: [`${volume}:${DATA_DIR}`] },
  });
  const exitCode = await engine.waitContainer(name);
  const output = await engine.logTail(name, 100_000);
  await engine.removeContainer(name);
  return { exitCode, output };
}

const PARALLEL = "backups:\n  physical: { engine: parallel }\n";

describe("the parallel physical engine", function () {
  it("ten backups taken while pgbench writes each restore to a server where the invariants, pg_amcheck --heapallindexed and pg_checksums hold", async function () {
    const workspace = await appCluster(PARALLEL, 4);
    const engine = await docker();
    // The agent reads the primary's volumes: mounted, never writable.
    const mounts = (await engineApi.getContainer(`${workspace.cluster}-agent`).inspect()).Mounts;
    assert.ok(mounts.some((mount) => mount.Destination === DATA_DIR && !mount.RW && mount.Name === `${workspace.cluster}-primary-data`), JSON.stringify(mounts));
    const load = pgbenchUntilStopped(workspace);
    const backups: Manifest[] = [];
    try {
      await sleep(1000);
      for (let round = 0; round < 10; round++) backups.push(await backupRun(workspace, "--kind", "physical"));
    } finally {
      await load.stop();
    }
    for (const backup of backups) {
      const manifest = backup as Manifest & { engine?: string };
      assert.equal(manifest.engine, "parallel", `backup ${backup.id}`);
      assert.ok(backup.files.filter((file) => file.content === "base").length >= 3, `bundles and the last one: ${backup.files.map((file) => file.name).join(", ")}`);
    }
    // The drill of one: pg_verifybackup accepts the engine's own backup_manifest.
    const drill = await workspace.ok("backup", "verify", backups[9]?.id ?? "");
    assert.match(drill.stdout, /ok {3}pg_verifybackup/);
    assert.match(drill.stdout, /verify passed/);
    for (const [index, backup] of backups.entries()) {
      const node = `p${index}`;
      const container = `${workspace.cluster}-${node}`;
      await workspace.ok("restore", backup.id, "--as", node);
      await assertPgbenchConsistent(container);
      const amcheck = await engine.exec(container, ["pg_amcheck", "-U", "postgres", "--install-missing", "--all", "--heapallindexed"]);
      assert.equal(amcheck.exitCode, 0, `pg_amcheck on the restore of ${backup.id}: ${amcheck.stdout}${amcheck.stderr}`);
      await engine.stopContainer(container, 60);
      const volumes = nodeVolumes(workspace.cluster, node);
      const checksums = await checksumsOfVolume(workspace.cluster, volumes.data);
      assert.equal(checksums.exitCode, 0, `pg_checksums on the restore of ${backup.id}: ${checksums.output}`);
      assert.match(checksums.output, /Bad checksums:\s+0/);
      await engine.removeContainer(container);
      for (const volume of Object.values(volumes)) await engine.removeVolume(volume);
    }
  });

  it("a page corrupted on disk before the backup fails it, naming the table and the index, their files and blocks; nothing is kept", async function () {
    const workspace = await appCluster(PARALLEL);
    const { table, index } = await createVictim(workspace);
    await stopAndCorrupt(workspace, [flipBlock(table), flipBlock(index)]);
    const physical = await workspace.run("backup", "run", "--kind", "physical");
    assert.notEqual(physical.code, 0);
    assert.match(physical.stderr, new RegExp(`pages fail their data checksums in .*app\\.public\\.victim \\(${table}, block 1\\)`));
    assert.match(physical.stderr, new RegExp(`app\\.public\\.victim_pkey \\(${index}, block 1\\)`));
    const listed = JSON.parse((await workspace.ok("--json", "backup", "list")).stdout) as Array<{ status: string }>;
    assert.deepEqual(listed.filter((backup) => backup.status === "complete"), [], "never a complete backup of corrupt pages");
  });

  it("into S3: one object per bundle, their sha256 as stored, no open upload; the drill and a restore from there", async function () {
    const s3 = await startS3("s3rver");
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/par\n  physical: { engine: parallel }\n`, 4);
    const cli = async (...args: string[]) => {
      const result = await runCli(args, { cwd: workspace.directory, env: s3.env });
      assert.equal(result.code, 0, `pgfort ${args.join(" ")}: ${result.stderr}`);
      return result;
    };
    const manifest = JSON.parse((await cli("--json", "backup", "run", "--kind", "physical")).stdout) as Manifest & { engine?: string };
    assert.equal(manifest.engine, "parallel");
    const prefix = `par/${workspace.cluster}/physical/${manifest.id}/`;
    assert.deepEqual((await s3.keys(prefix)).sort(), [...manifest.files.map((file) => prefix + file.name), `${prefix}manifest.json`].sort());
    assert.deepEqual(await s3.openUploads(), []);
    assert.match((await cli("backup", "verify", manifest.id)).stdout, /verify passed/);
    await cli("restore", manifest.id, "--as", "from-s3");
    await assertPgbenchConsistent(`${workspace.cluster}-from-s3`);
    assert.equal(await psql(`${workspace.cluster}-from-s3`, "SELECT count(*) FROM pgbench_accounts", { db: "app" }), "400000");
  });

  it("falls back to pg_basebackup, saying why, when the volume the agent has is not the running primary's", async function () {
    const workspace = await appCluster(`${PARALLEL}replicas:\n  - { name: r1 }\n`);
    await workspace.ok("replica", "promote", "r1", "--yes");
    await psql(`${workspace.cluster}-r1`, "CREATE TABLE after_promotion AS SELECT 42 AS answer", { db: "app" });
    // The agent still mounts the former primary's volumes (pgfort up would re-create it).
    const run = await workspace.ok("--json", "backup", "run", "--kind", "physical");
    const manifest = JSON.parse(run.stdout) as Manifest & { engine?: string };
    assert.equal(manifest.engine, "basebackup");
    assert.match(run.stderr, /backups\.physical\.engine is parallel, but the data volume mounted at \/var\/lib\/postgresql\/data is not the running primary's .*: taking the backup with pg_basebackup instead/);
    await workspace.ok("restore", manifest.id, "--as", "fallback");
    assert.equal(await psql(`${workspace.cluster}-fallback`, "SELECT answer FROM after_promotion", { db: "app" }), "42");
    // pgfort up re-creates the agent on the new primary's volumes: parallel again.
    await workspace.ok("up");
    const again = JSON.parse((await workspace.ok("--json", "backup", "run", "--kind", "physical")).stdout) as Manifest & { engine?: string };
    assert.equal(again.engine, "parallel");
  });
});
