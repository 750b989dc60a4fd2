import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CreateMultipartUploadCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, assertPgbenchConsistent, type Manifest } from "./backup-helpers";
import { runCli, type CliResult } from "./cli";
import { psql } from "./postgres";
import { freePort, type Workspace } from "./workspace";
import { ensureMotoImage, leftoverMotoContainers, startS3, S3_SERVER_KINDS, type TestS3 } from "./s3";

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

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Warnings on stderr, one per line: `warning: …` as text, `{"event":"warning",…}` under --json. */
function warningsOf(stderr: string): string[] {
  return stderr.split("\n").flatMap((line) => {
    if (line.startsWith("warning: ")) return [line.slice("warning: ".length)];
    if (!line.startsWith("{")) return [];
    const event = JSON.parse(line) as { event?: string; message?: string };
    return event.event === "warning" ? [event.message ?? ""] : [];
  });
}

/**
 * A command that cleans up stale uploads (backup run, prune) against s3rver, which lacks
 * ListMultipartUploads: exactly one warning line, saying so. Against moto (which has it), and for
 * every other command: none.
 */
function assertWarnings(s3: TestS3, result: CliResult, cleansUploads: boolean): void {
  const warnings = warningsOf(result.stderr);
  if (s3.kind === "s3rver" && cleansUploads) {
    assert.equal(warnings.length, 1, result.stderr);
    const expected = `^the S3 server ${escapeRegExp(s3.endpoint)} \\(bucket ${s3.bucket}\\) answers ListMultipartUploads with NotImplemented, HTTP 501: stale multipart uploads are not cleaned up there, backups go on; `;
    assert.match(warnings[0] ?? "", new RegExp(expected));
  } else {
    assert.deepEqual(warnings, [], result.stderr);
  }
}

for (const kind of S3_SERVER_KINDS) describe(`pgfort backup (S3: ${kind})`, function () {
  before(async function () {
    this.timeout(10 * 60_000);
    if (kind === "moto") await ensureMotoImage();
  });
  after(async function () {
    assert.deepEqual(await leftoverMotoContainers(), [], "moto containers left behind");
  });

  it("streams logical and physical backups to S3, with manifests and equal sha256s, and verifies from S3", async function () {
    const s3 = await startS3(kind);
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/nightly\n`);
    for (const backupKind of ["logical", "physical"]) {
      const run = await ok(workspace, s3, "--json", "backup", "run", "--kind", backupKind);
      assertWarnings(s3, run, true);
      const manifest = JSON.parse(run.stdout) as Manifest;
      const prefix = `nightly/${workspace.cluster}/${backupKind}/${manifest.id}/`;
      const keys = (await s3.keys(prefix)).sort();
      assert.deepEqual(keys, [...manifest.files.map((file) => prefix + file.name), `${prefix}manifest.json`].sort());
      for (const file of manifest.files) assert.equal(await s3Sha256(s3, prefix + file.name), file.sha256, file.name);
      const verified = await ok(workspace, s3, "backup", "verify", manifest.id);
      assert.match(verified.stdout, /verify passed/);
      assertWarnings(s3, verified, false);
    }
    const list = await ok(workspace, s3, "--json", "backup", "list");
    assertWarnings(s3, list, false);
    const listed = JSON.parse(list.stdout) as Array<{ status: string; verified: string; location: string }>;
    assert.equal(listed.length, 2);
    for (const backup of listed) {
      assert.equal(backup.status, "complete");
      assert.equal(backup.verified, "passed");
      assert.match(backup.location, new RegExp(`^s3://${s3.bucket}/nightly/`));
    }
    assertWarnings(s3, await ok(workspace, s3, "restore", "latest", "--as", "from-s3"), false);
    await assertPgbenchConsistent(`${workspace.cluster}-from-s3`);
    assert.deepEqual(await s3.openUploads(), []);
  });

  it("fails clearly when S3 is unreachable, before touching anything", async function () {
    const s3 = await startS3(kind);
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/x\n`);
    const closed = await freePort();
    const result = await runCli(["backup", "run", "--kind", "logical"], { cwd: workspace.directory, env: { ...s3.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${closed}` } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /error: cannot reach bucket pgfort-test at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(result.stderr, /hint: the S3 endpoint does not answer/);
    assert.deepEqual(await s3.keys(), []);
  });

  it("fails when S3 dies mid-upload and lists nothing as complete; the next prune aborts the upload left behind (or, on s3rver, warns once that it cannot)", async function () {
    this.timeout(15 * 60_000);
    const s3 = await startS3(kind);
    const workspace = await appCluster(`backups:\n  target: s3://${s3.bucket}/x\n  compression: none\n`);
    // ~200 MB of dump, so several 8 MB parts are under way when the server dies.
    await psql(`${workspace.cluster}-primary`, "CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g*7)::text) || md5((g*13)::text) AS payload FROM generate_series(1, 1800000) g", { db: "app" });
    const running = pgfort(workspace, s3, "backup", "run", "--kind", "logical", "--database", "app");
    for (let attempt = 0; attempt < 1200 && !(await s3.hasStoredPart()); attempt += 1) await sleep(50);
    assert.ok(await s3.hasStoredPart(), "the backup stored no part within 60 s");
    await s3.crash();
    const result = await running;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /error: .*upload of s3:\/\/pgfort-test\/x\/.*app\.pgcustom failed/);

    await s3.recover(); // the server comes back, with what it had
    assert.equal((await s3.openUploads()).length, 1, "the crash left an upload pgfort could not abort");
    const listed = JSON.parse((await ok(workspace, s3, "--json", "backup", "list")).stdout) as Array<{ status: string }>;
    assert.ok(listed.every((backup) => backup.status !== "complete"));
    // moto reports every upload as initiated in 2010, so all look stale to prune: one outside the
    // target's prefix shows that prune keeps to its own.
    if (kind === "moto") await s3.client().send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: "elsewhere/not-pgfort" }));
    const pruned = await ok(workspace, s3, "backup", "prune");
    assertWarnings(s3, pruned, true);
    if (kind === "moto") {
      // Read with the test's own client (ListMultipartUploads on moto), not with pgfort's code.
      assert.deepEqual(await s3.openUploads(), ["elsewhere/not-pgfort"], "prune aborts the upload the crash left, and nothing outside its prefix");
      assert.match(pruned.stdout, /aborted 1 stale multipart upload/);
    } else {
      // s3rver can neither list nor abort uploads: prune goes on without, and says so once (above).
      assert.equal((await s3.openUploads()).length, 1);
      assert.match(pruned.stdout, /aborted 0 stale multipart upload/);
    }
  });
});
