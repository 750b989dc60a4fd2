// WAL archiving into S3 when S3 goes away (issue 11, acceptance 3 and 7): s3rver, logging every
// request it gets, is killed for ten minutes under pgbench. The primary keeps running, status,
// /metrics and /healthz show the backlog, nothing is lost once S3 is back (restore --latest holds
// every committed pgbench transaction), and over the whole run - backups, archiving, retries - no
// request deleted an object or wrote over one that existed. The everyday credentials may not
// delete at all (s3rver's NODELETE key); prune deletes with its own (backups.prune.credentialsFile).
import assert from "node:assert/strict";
import { assertPgbenchConsistent } from "./backup-helpers";
import { runCli, type CliResult } from "./cli";
import { docker, psql } from "./postgres";
import { NO_DELETE_CREDENTIALS, S3rverServer, startS3 } from "./s3";
import { writeFile } from "node:fs/promises";
import { freePort, Workspace } from "./workspace";
import { eventually } from "./waiting";

const OUTAGE_SECONDS = Number(process.env["PGFORT_TEST_S3_OUTAGE_SECONDS"] ?? 600);


describe("WAL archiving into S3 through an outage", function () {
  this.timeout((OUTAGE_SECONDS + 900) * 1000);

  it(`survives ${OUTAGE_SECONDS} s without S3 under pgbench, loses nothing, and never deletes or overwrites an object`, async function () {
    const s3 = await startS3("s3rver", "pgfort-wal", { logRequests: true });
    assert.ok(s3 instanceof S3rverServer);
    const port = await freePort();
    const workspace = await Workspace.create(
      (cluster) =>
        `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\nbackups:\n  target: s3://${s3.bucket}/arch\n  prune: { credentialsFile: ./prune-credentials }\nwal: { archiveTimeout: 10s }\n`,
    );
    await writeFile(workspace.path("prune-credentials"), "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n", { mode: 0o600 });
    const env = { ...s3.env, ...NO_DELETE_CREDENTIALS };
    const pgfort = async (...args: string[]): Promise<CliResult> => {
      const result = await runCli(args, { cwd: workspace.directory, env });
      assert.equal(result.code, 0, `pgfort ${args.join(" ")}: ${result.stderr}\n${result.stdout}`);
      return result;
    };
    await pgfort("up");
    const primary = `${workspace.cluster}-primary`;
    const engine = await docker();
    await psql(primary, "CREATE DATABASE app");
    const init = await engine.exec(primary, ["pgbench", "-U", "postgres", "-i", "-q", "-s", "1", "app"]);
    assert.equal(init.exitCode, 0, init.stderr);
    await pgfort("backup", "run", "--kind", "logical");
    await pgfort("backup", "run", "--kind", "physical");
    const bench = (seconds: number) => engine.exec(primary, ["pgbench", "-U", "postgres", "-n", "-c", "2", "-T", String(seconds), "app"]);
    assert.equal((await bench(60)).exitCode, 0, "a minute of archiving with S3 up");

    await s3.crash();
    const load = bench(OUTAGE_SECONDS);
    // The backlog shows long before the bound: in the server, in status, in /metrics and /healthz.
    await eventually(180_000, async () => {
      const status = (await runCli(["status"], { cwd: workspace.directory, env })).stdout;
      assert.match(status, /WAL archive: FAILING since .*; [1-9]\d* WAL file\(s\) waiting/);
    });
    const health = await fetch(`http://127.0.0.1:${workspace.agentPort}/healthz`);
    assert.equal(health.status, 503);
    assert.match(await health.text(), /storing WAL fails since/);
    const metrics = await (await fetch(`http://127.0.0.1:${workspace.agentPort}/metrics`)).text();
    assert.match(metrics, /pgfort_wal_archive_failing 1/);
    assert.match(metrics, /pgfort_wal_archive_pending_bytes\{server="[^"]+"\} [1-9]/);
    const ran = await load;
    assert.equal(ran.exitCode, 0, `the primary never stopped taking pgbench's writes: ${ran.stderr}`);
    const pending = Number(await psql(primary, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
    console.log(`      after ${OUTAGE_SECONDS} s without S3: ${pending} WAL files waiting in pg_wal`);
    assert.ok(pending > 0);

    await s3.recover();
    const closed = await psql(primary, "SELECT pg_walfile_name(pg_switch_wal())");
    await eventually(600_000, async () => {
      assert.ok((await psql(primary, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= closed, "archived through the last file");
      assert.equal(await psql(primary, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"), "0");
    });
    const restored = await pgfort("restore", "--as", "after-outage", "--latest");
    const copy = `${workspace.cluster}-after-outage`;
    await assertPgbenchConsistent(copy);
    const history = (container: string) => psql(container, "SELECT count(*) FROM pgbench_history", { db: "app" });
    assert.equal(await history(copy), await history(primary), `every committed pgbench transaction is back\n${restored.stdout}`);

    // Write-once, over the whole run: no delete, no write over an existing key.
    const requests = await s3.requests();
    const deletes = requests.filter((request) => request.method === "DELETE" || (request.method === "POST" && /(^|&)delete(=|&|$)/.test(request.query)));
    const overwrites = requests.filter((request) => request.existed && (request.method === "PUT" ? !/partNumber=/.test(request.query) : request.method === "POST" && /uploadId=/.test(request.query)));
    const puts = requests.filter((request) => request.method === "PUT" || (request.method === "POST" && /uploadId=/.test(request.query)));
    console.log(`      S3 requests: ${requests.length}, writes ${puts.length}, deletes ${deletes.length}, writes over existing keys ${overwrites.length}`);
    assert.ok(puts.length > 10, "WAL files and backups were written");
    assert.deepEqual(deletes, []);
    assert.deepEqual(overwrites, []);
    assert.ok(requests.every((request) => request.accessKey === null || request.accessKey === NO_DELETE_CREDENTIALS.AWS_ACCESS_KEY_ID), "all of it with the key that may not delete");

    // Only prune deletes, with its own credentials: the WAL from before the physical backup.
    const pruned = await pgfort("backup", "prune");
    assert.match(pruned.stdout, /and [1-9]\d* archived WAL file\(s\) no kept backup needs/);
    const pruneDeletes = (await s3.requests()).slice(requests.length).filter((request) => request.method === "DELETE" || (request.method === "POST" && /(^|&)delete(=|&|$)/.test(request.query)));
    assert.ok(pruneDeletes.length > 0);
    assert.ok(pruneDeletes.every((request) => request.accessKey === "S3RVER"), JSON.stringify(pruneDeletes));
  });
});
