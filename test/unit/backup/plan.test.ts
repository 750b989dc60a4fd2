import assert from "node:assert/strict";
import { backupDirectory, createdAtOf, databaseFileName, newBackupId, parseBackupKey } from "../../../src/backup/layout";
import { compressionThreads, planLogicalArtifacts, planPhysicalArtifact, planRestoreProgram } from "../../../src/backup/plan";
import { readJobResult } from "../../../src/backup/job";
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
    assert.equal(artifacts[1]?.program.verb, "dump-database");
    assert.deepEqual(
      { ...artifacts[1]?.program.env, PGFORT_ROW_COUNT_SQL: undefined },
      { PGFORT_COMPRESSION: "zstd", PGFORT_COMPRESSION_LEVEL: "3", PGFORT_COMPRESSION_THREADS: "2", PGFORT_DATABASE: "app", PGFORT_DUMP_MODE: "pipe", PGFORT_ROW_COUNT_SQL: undefined },
    );
    assert.match(artifacts[1]?.program.env["PGFORT_ROW_COUNT_SQL"] ?? "", /^SELECT coalesce\(json_object_agg/);
    const builtin = planLogicalArtifacts(["app"], zstd, "builtin");
    assert.equal(builtin[1]?.name, "app.pgcustom");
    assert.equal(builtin[1]?.compression, "pg_dump");
    assert.equal(planLogicalArtifacts(["app"], { ...zstd, method: "none" }, "pipe")[1]?.name, "app.pgcustom");
    assert.equal(planLogicalArtifacts(["app"], { ...zstd, method: "lz4" }, "pipe")[0]?.name, "globals.sql.lz4");
  });

  it("takes a base backup with the label as a parameter, and restores each file by its kind", function () {
    const artifact = planPhysicalArtifact(zstd, "pgfort x'; rm -rf /");
    assert.equal(artifact.name, "base.tar.zst");
    assert.equal(artifact.program.verb, "basebackup");
    assert.equal(artifact.program.env["PGFORT_BACKUP_LABEL"], "pgfort x'; rm -rf /", "a value, never shell text");
    const base = { name: "base.tar.zst", content: "base", compression: "zstd", bytes: 1, rawBytes: 1, sha256: "x" } as const;
    assert.deepEqual(planRestoreProgram(base), { verb: "extract-base", env: { PGFORT_DECOMPRESSION: "zstd", PGFORT_DATA_DIR: "/var/lib/postgresql/data" } });
    assert.deepEqual(planRestoreProgram({ ...base, name: "app.pgcustom", content: "database", database: "app", compression: "pg_dump" }), {
      verb: "restore-database",
      env: { PGFORT_DECOMPRESSION: "none", PGFORT_DATABASE: "app" },
    });
    assert.equal(planRestoreProgram({ ...base, name: "globals.sql.lz4", content: "globals", compression: "lz4" }).verb, "restore-globals");
  });

  it("accepts a job's result line only when it matches the schema", function () {
    const wal = { startLsn: "0/5000028", endLsn: "0/5000100", timeline: 1 };
    assert.deepEqual(readJobResult({ rawBytes: 5, wal }, "x"), { rawBytes: 5, wal });
    assert.throws(() => readJobResult(undefined, "pg_dump"), /pg_dump ended without a valid result line/);
    assert.throws(() => readJobResult({ wal: { ...wal, startLsn: "nonsense" } }, "x"), /wal.startLsn/);
    assert.throws(() => readJobResult({ rowCounts: { t: -1 } }, "x"), /rowCounts/);
  });

  it("gives the compressor the job's CPUs, at most the host's, at least one", function () {
    assert.equal(compressionThreads(4, 2), 2);
    assert.equal(compressionThreads(0.5, 8), 1);
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
