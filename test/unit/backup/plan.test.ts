import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { backupDirectory, createdAtOf, databaseFileName, newBackupId, parseBackupKey } from "../../../src/backup/layout";
import { compressedPipe, compressionThreads, planJobContainer, planLogicalArtifacts, planPhysicalArtifact, scriptHead, BASEBACKUP_CREDENTIALS, DUMP_CREDENTIALS } from "../../../src/backup/plan";
import { parseBasebackupWal } from "../../../src/backup/wal";
import { parseConfig } from "../../../src/config/load";
import { assessHealth } from "../../../src/schedule/health";
import { needsPathStyle } from "../../../src/backup/targets/s3";

const zstd = { method: "zstd" as const, level: 3, threads: 2 };

describe("backup layout", function () {
  it("names backups by UTC time and a short id, and reads keys back", function () {
    const id = newBackupId(new Date("2026-11-23T19:59:08.123Z"), "8327fd");
    assert.equal(id, "20261123T195908Z-8327fd");
    assert.equal(createdAtOf(id).toISOString(), "2026-11-23T19:59:08.000Z");
    assert.equal(backupDirectory("app", "logical", id), `app/logical/${id}/`);
    assert.deepEqual(parseBackupKey(`app/logical/${id}/app.pgcustom.zst`), { cluster: "app", kind: "logical", id, file: "app.pgcustom.zst" });
    assert.equal(parseBackupKey(`app/other/${id}/x`), undefined);
    assert.equal(parseBackupKey("app/logical/not-an-id/x"), undefined);
  });

  it("gives databases safe file names", function () {
    assert.equal(databaseFileName("app", ".pgcustom.zst"), "app.pgcustom.zst");
    assert.equal(databaseFileName("my app/db", ".pgcustom"), "my%20app%2Fdb.pgcustom");
    assert.equal(databaseFileName("..", ".pgcustom"), "%2E%2E.pgcustom");
  });
});

describe("backup plan", function () {
  it("dumps globals and each database, compressed by the chosen tool, named by what they hold", function () {
    const artifacts = planLogicalArtifacts(["app", "postgres"], zstd, "pipe");
    assert.deepEqual(artifacts.map((artifact) => artifact.name), ["globals.sql.zst", "app.pgcustom.zst", "postgres.pgcustom.zst"]);
    assert.match(artifacts[1]?.script ?? "", /pg_dump -Fc -Z0 --snapshot="\$snapshot" -d "\$PGFORT_DATABASE" \| dd .* \| zstd -q -c -3 -T2/);
    const builtin = planLogicalArtifacts(["app"], zstd, "builtin");
    assert.equal(builtin[1]?.name, "app.pgcustom");
    assert.equal(builtin[1]?.compression, "pg_dump");
    assert.equal(planLogicalArtifacts(["app"], { ...zstd, method: "none" }, "pipe")[1]?.name, "app.pgcustom");
    assert.equal(planLogicalArtifacts(["app"], { ...zstd, method: "lz4" }, "pipe")[0]?.name, "globals.sql.lz4");
  });

  it("takes a base backup as one tar with WAL fetched at the end", function () {
    const artifact = planPhysicalArtifact(zstd, "pgfort x");
    assert.equal(artifact.name, "base.tar.zst");
    assert.match(artifact.script, /pg_basebackup -D - -F tar -X fetch --checkpoint=fast --verbose --label='pgfort x'/);
  });

  it("fails the pipe when any stage fails, not only the last (pipefail)", function () {
    const script = `set -euo pipefail\n${compressedPipe("false", { method: "none", level: 1, threads: 1 })}`;
    const result = spawnSync("bash", ["-c", script.replace(/\/tmp\/raw-bytes/g, "/dev/null")]);
    assert.notEqual(result.status, 0);
    const ok = spawnSync("bash", ["-c", `set -euo pipefail\n${compressedPipe("printf 12345", { method: "none", level: 1, threads: 1 }).replace(/\/tmp\/raw-bytes/g, `/tmp/pgfort-unit-raw-${process.pid}`)}`]);
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout.toString(), "12345");
    assert.match(ok.stderr.toString(), /^PGFORT-RAW-BYTES 5$/m);
  });

  it("reads the password from its file into a pgpass, never into argv or the environment", function () {
    const head = scriptHead("app-primary", DUMP_CREDENTIALS);
    assert.match(head, /read -r password < \/run\/secrets\/postgres-password/);
    assert.match(head, /PGPASSFILE=\/tmp\/pgpass/);
    assert.doesNotMatch(head, /PGPASSWORD/);
    assert.match(scriptHead("p", BASEBACKUP_CREDENTIALS), /PGUSER=replicator/);
  });

  it("runs jobs hardened, without a log driver, within the backup limits and the host's CPUs", function () {
    const config = parseConfig("cluster: app\nbackups: { resources: { memory: 256m, cpus: 4 } }");
    const create = planJobContainer({ config, stateDir: "/s", primaryNode: "primary", role: "backup", node: "backup-1", hostCpus: 2, credentials: DUMP_CREDENTIALS }, "true");
    assert.equal(create.name, "app-backup-1");
    assert.deepEqual(create.HostConfig?.LogConfig, { Type: "none", Config: {} });
    assert.equal(create.HostConfig?.Memory, 256 * 1024 ** 2);
    assert.equal(create.HostConfig?.NanoCpus, 2e9, "capped at the host's 2 CPUs");
    assert.deepEqual(create.HostConfig?.CapDrop, ["ALL"]);
    assert.equal(create.HostConfig?.ReadonlyRootfs, true);
    assert.deepEqual(create.HostConfig?.Binds, ["app-secrets:/run/secrets:ro"]);
    assert.equal(create.Labels?.["pgfort.role"], "backup");
    assert.equal(create.HostConfig?.NetworkMode, "container:app-primary", "on loopback in the primary's network namespace");
    assert.equal(compressionThreads(4, 2), 2);
    assert.equal(compressionThreads(0.5, 8), 1);
  });
});

describe("parseBasebackupWal", function () {
  it("reads start, end and timeline from pg_basebackup --verbose", function () {
    const stderr = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\npg_basebackup: write-ahead log start point: 0/5000028 on timeline 1\npg_basebackup: write-ahead log end point: 0/5000100\n";
    assert.deepEqual(parseBasebackupWal(stderr), { startLsn: "0/5000028", endLsn: "0/5000100", timeline: 1 });
    assert.throws(() => parseBasebackupWal("nothing"), /did not report/);
  });
});

describe("S3 addressing", function () {
  it("uses path style for IP addresses and localhost", function () {
    assert.equal(needsPathStyle("http://127.0.0.1:9000"), true);
    assert.equal(needsPathStyle("http://localhost:9000"), true);
    assert.equal(needsPathStyle("http://[::1]:9000"), true);
    assert.equal(needsPathStyle("https://s3.eu-west-1.amazonaws.com"), false);
    assert.equal(needsPathStyle(undefined), false);
  });
});

describe("scheduler health", function () {
  const started = new Date("2026-11-23T00:00:00Z");
  const job = { name: "nightly", periodMs: 86_400_000, lastSuccessAt: null, lastFailureAt: null, lastError: null, running: false };

  it("is healthy while waiting for a first run, and after a success", function () {
    assert.equal(assessHealth([job], started, new Date("2026-11-23T05:00:00Z")).ok, true);
    assert.equal(assessHealth([{ ...job, lastSuccessAt: new Date("2026-11-23T03:00:00Z") }], started, new Date("2026-11-24T05:00:00Z")).ok, true);
  });

  it("is unhealthy after a failed last run, or when backups silently stopped", function () {
    const failed = assessHealth([{ ...job, lastSuccessAt: new Date("2026-11-23T03:00:00Z"), lastFailureAt: new Date("2026-11-24T03:00:00Z"), lastError: "disk full" }], started, new Date("2026-11-24T04:00:00Z"));
    assert.equal(failed.ok, false);
    assert.match(failed.jobs[0]?.reason ?? "", /disk full/);
    const stale = assessHealth([{ ...job, lastSuccessAt: new Date("2026-11-23T03:00:00Z") }], started, new Date("2026-12-07T03:00:00Z"));
    assert.equal(stale.ok, false);
    assert.match(stale.jobs[0]?.reason ?? "", /no successful run since/);
  });
});
