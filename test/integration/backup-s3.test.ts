import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { setTimeout as sleep } from "node:timers/promises";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { appCluster, assertPgbenchConsistent, type Manifest } from "./backup-helpers";
import { runCli, type CliResult } from "./cli";
import { psql } from "./postgres";
import { freePort, type Workspace } from "./workspace";
import { TestS3 } from "./s3";

function pgfort(workspace: Workspace, s3: TestS3, ...args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: workspace.directory, env: s3.env });
}

async function ok(workspace: Workspace, s3: TestS3, ...args: string[]): Promise<CliResult> {
  const result = await pgfort(workspace, s3, ...args);
  assert.equal(result.code, 0, `pgfort ${args.join(" ")}: ${result.stderr}`);
  return result;
}

async function s3Sha256(s3: TestS3, key: string): Promise<string> {
  const response = await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  const hash = createHash("sha256");
  hash.update(await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  return hash.digest("hex");
}

describe("pgfort backup (S3)", function () {
  it("streams logical and physical backups to S3, with manifests and equal sha256s, and verifies from S3", async function () {
    const s3 = await TestS3.start();
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/nightly\n`);
    for (const kind of ["logical", "physical"]) {
      const manifest = JSON.parse((await ok(workspace, s3, "--json", "backup", "run", "--kind", kind)).stdout) as Manifest;
      const prefix = `nightly/${workspace.cluster}/${kind}/${manifest.id}/`;
      const keys = (await s3.keys(prefix)).sort();
      assert.deepEqual(keys, [...manifest.files.map((file) => prefix + file.name), `${prefix}manifest.json`].sort());
      for (const file of manifest.files) assert.equal(await s3Sha256(s3, prefix + file.name), file.sha256, file.name);
      const verified = await ok(workspace, s3, "backup", "verify", manifest.id);
      assert.match(verified.stdout, /verify passed/);
    }
    const listed = JSON.parse((await ok(workspace, s3, "--json", "backup", "list")).stdout) as Array<{ status: string; verified: string; location: string }>;
    assert.equal(listed.length, 2);
    for (const backup of listed) {
      assert.equal(backup.status, "complete");
      assert.equal(backup.verified, "passed");
      assert.match(backup.location, new RegExp(`^s3://${s3.bucket}/nightly/`));
    }
    await ok(workspace, s3, "restore", "latest", "--as", "from-s3");
    await assertPgbenchConsistent(`${workspace.cluster}-from-s3`);
    assert.deepEqual(await s3.multipartUploads(), []);
  });

  it("fails clearly when S3 is unreachable, before touching anything", async function () {
    const s3 = await TestS3.start();
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/x\n`);
    const closed = await freePort();
    const result = await runCli(["backup", "run", "--kind", "logical"], { cwd: workspace.directory, env: { ...s3.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${closed}` } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /error: cannot reach bucket pgfort-test at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(result.stderr, /hint: the S3 endpoint does not answer/);
    assert.deepEqual(await s3.keys(), []);
  });

  it("fails when S3 dies mid-upload, lists nothing as complete, and leaves no multipart upload behind", async function () {
    this.timeout(15 * 60_000);
    const s3 = await TestS3.start();
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/x\n  compression: none\n`);
    // ~200 MB of dump, so several 8 MB parts are under way when the server dies.
    await psql(`${workspace.cluster}-primary`, "CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS payload FROM generate_series(1, 1800000) g", { db: "app" });
    const running = pgfort(workspace, s3, "backup", "run", "--kind", "logical", "--database", "app");
    const uploads = path.join(s3.directory, s3.bucket, "._S3rver_uploads");
    for (let attempt = 0; attempt < 600; attempt += 1) {
      const inProgress = await readdir(uploads).catch(() => []);
      const parts = inProgress.length ? await readdir(path.join(uploads, inProgress[0] ?? "")).catch(() => []) : [];
      if (parts.some((name) => /^\d+$/.test(name))) break;
      await sleep(50);
    }
    s3.kill();
    const result = await running;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /error: .*upload of s3:\/\/pgfort-test\/x\/.*app\.pgcustom failed/);

    await s3.launch(s3.port); // the server comes back, with what it had on disk
    assert.equal((await s3.multipartUploads()).length, 1, "the crash left an upload pgfort could not abort");
    const listed = JSON.parse((await ok(workspace, s3, "--json", "backup", "list")).stdout) as Array<{ status: string }>;
    assert.ok(listed.every((backup) => backup.status !== "complete"));
    await ok(workspace, s3, "backup", "prune");
    assert.deepEqual(await s3.multipartUploads(), [], "prune aborts the upload the crash left");
  });
});
