// The job engine with a plain fake runtime (programs that write given bytes, SQL answered from a
// table) and a real file target in a temporary directory: what ends up there is what a user sees.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { z } from "zod";
import { parseConfig } from "../../../src/config/load";
import { ManifestSchema } from "../../../src/backup/manifest";
import { FileTarget } from "../../../src/backup/targets/file";
import { BackupError, InterruptedError } from "../../../src/errors";
import { runBackupJob } from "../../../src/jobs/backup";
import { TextTail } from "../../../src/jobs/result-line";
import type { JobRuntime, ProgramRun } from "../../../src/jobs/runtime";

interface FakeProgram {
  bytes?: Buffer;
  exitCode?: number;
  stderr?: string;
  result?: unknown;
  /** Waits for the abort instead of ending. */
  hang?: boolean;
  /** Files the program left in its PGFORT_TMP. */
  outputs?: Record<string, Buffer>;
}

function fakeRuntime(programs: (run: ProgramRun) => FakeProgram, ran: ProgramRun[] = [], server: { versionNum: number; summarizeWal: string | null } = { versionNum: 150018, summarizeWal: null }): JobRuntime {
  const answer = (sql: string): unknown[] => {
    if (sql.includes("summarize_wal")) return [{ version_num: server.versionNum, summarize_wal: server.summarizeWal, timeline: 1, summary_keep_minutes: server.versionNum >= 170000 ? 14_400 : null }];
    if (sql.includes("server_version")) return [{ server_version: "15.18" }];
    if (sql.includes("pg_collation_actual_version")) return [{ libc: "2.36", databases: [{ name: "app", provider: "c", version: "2.36" }] }];
    if (sql.includes("pg_database")) return [{ datname: "app" }, { datname: "postgres" }];
    if (sql.includes("pg_roles")) return [{ one: 1 }];
    throw new Error(`unexpected SQL ${sql}`);
  };
  return {
    primary: {
      host: "t1-primary",
      query: async <Row>(sql: string, row: z.ZodType<Row>) => answer(sql).map((value) => row.parse(value)),
      close: async () => undefined,
    },
    queryIn: async () => [],
    cpus: 2,
    secretsDir: "/nonexistent",
    async runProgram(run) {
      ran.push(run);
      const program = programs(run);
      const stderr = new TextTail();
      stderr.append(Buffer.from(program.stderr ?? ""));
      const source = program.hang
        ? new Readable({ read() {} })
        : Readable.from([program.bytes ?? Buffer.from(`${run.program.verb} bytes`)]);
      await pipeline([source, ...run.stdout], run.signal ? { signal: run.signal } : {});
      return { exitCode: program.exitCode ?? 0, stderr, result: program.result ?? { rawBytes: 100, rowCounts: { "public.items": 3 } }, outputs: program.outputs ?? {} };
    },
    close: async () => undefined,
  };
}

describe("the job engine (src/jobs/backup.ts)", function () {
  let directory: string;
  let target: FileTarget;
  const config = parseConfig("cluster: t1\n", "test");
  beforeEach(async function () {
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-engine-"));
    target = new FileTarget(directory);
  });
  afterEach(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  async function filesUnder(root: string): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(root, path.join(entry.parentPath, entry.name))).sort();
  }

  it("writes each program's bytes with their sha256, then the manifest, with the fields of formatVersion 1", async function () {
    const ran: ProgramRun[] = [];
    const manifest = await runBackupJob(fakeRuntime(() => ({}), ran), config, target, { kind: "logical", job: "nightly" });
    assert.deepEqual(ManifestSchema.parse(manifest), manifest);
    assert.equal(manifest.source, "t1-primary");
    assert.equal(manifest.job, "nightly");
    assert.deepEqual(manifest.databases, ["app", "postgres"]);
    assert.deepEqual(manifest.collation, { libc: "2.36", databases: [{ name: "app", provider: "c", version: "2.36" }] });
    assert.deepEqual(manifest.files.map((file) => file.name), ["globals.sql.zst", "app.pgcustom.zst", "postgres.pgcustom.zst"]);
    assert.deepEqual(manifest.rowCounts, { app: { "public.items": 3 }, postgres: { "public.items": 3 } });
    const backup = path.join(directory, "t1", "logical", manifest.id);
    for (const file of manifest.files) {
      const bytes = await readFile(path.join(backup, file.name));
      assert.equal(createHash("sha256").update(bytes).digest("hex"), file.sha256, file.name);
      assert.equal(bytes.length, file.bytes);
    }
    assert.deepEqual(JSON.parse(await readFile(path.join(backup, "manifest.json"), "utf8")), manifest);
    // Dumps as the superuser, with the compressor's threads from the CPUs the job sees.
    assert.deepEqual([...new Set(ran.map((run) => run.credentials.user))], ["postgres"]);
    // backups.resources.cpus (2 by default), capped by the CPUs the job sees (2 here).
    assert.equal(ran[1]?.program.env["PGFORT_COMPRESSION_THREADS"], "2");
  });

  it("physical: the replication role's credentials, the WAL range in the manifest", async function () {
    const ran: ProgramRun[] = [];
    const wal = { startLsn: "0/2000028", endLsn: "0/2000100", timeline: 1 };
    const manifest = await runBackupJob(fakeRuntime(() => ({ result: { rawBytes: 10, wal } }), ran), config, target, { kind: "physical" });
    assert.deepEqual(manifest.wal, wal);
    assert.deepEqual(ran.map((run) => [run.program.verb, run.credentials.user]), [["basebackup", "replicator"]]);
  });

  it("physical on 17: keeps the backup_manifest beside the base; incrementals build on the newest until the chain holds fullEvery", async function () {
    const ran: ProgramRun[] = [];
    const wal = { startLsn: "0/2000028", endLsn: "0/2000100", timeline: 1 };
    let taken = 0;
    const seventeen = fakeRuntime(
      () => ({ result: { rawBytes: 10, wal, pgManifest: "backup_manifest.stored" }, outputs: { "backup_manifest.stored": Buffer.from(`manifest ${++taken}`) } }),
      ran,
      { versionNum: 170012, summarizeWal: "on" },
    );
    const incremental = { kind: "physical" as const, incremental: { fullEvery: 3 } };
    const full = await runBackupJob(seventeen, config, target, { kind: "physical" });
    assert.equal(full.parent, null);
    const kept = full.files.find((file) => file.content === "pg-manifest");
    assert.equal(kept?.name, "backup_manifest.zst");
    assert.equal(await readFile(path.join(directory, "t1", "physical", full.id, "backup_manifest.zst"), "utf8"), "manifest 1");
    assert.equal(ran[0]?.program.env["PGFORT_KEEP_MANIFEST"], "1");
    assert.equal(ran[0]?.program.env["PGFORT_PARENT_MANIFEST"], undefined);

    const second = await runBackupJob(seventeen, config, target, incremental);
    assert.equal(second.parent, full.id);
    assert.equal(ran[1]?.program.env["PGFORT_PARENT_MANIFEST"], "parent_manifest.stored");
    assert.equal(ran[1]?.program.env["PGFORT_PARENT_DECOMPRESSION"], "zstd");
    assert.equal(ran[1]?.inputs?.["parent_manifest.stored"]?.toString(), "manifest 1", "the parent's stored manifest, in the program's PGFORT_TMP");
    const third = await runBackupJob(seventeen, config, target, incremental);
    assert.equal(third.parent, second.id);
    assert.equal(ran[2]?.inputs?.["parent_manifest.stored"]?.toString(), "manifest 2");
    // full, second, third: the chain holds fullEvery 3, so the next is full.
    const fourth = await runBackupJob(seventeen, config, target, incremental);
    assert.equal(fourth.parent, null);
    assert.equal(ran[3]?.program.env["PGFORT_PARENT_MANIFEST"], undefined);

    // A parent whose stored manifest was altered is not built on.
    await writeFile(path.join(directory, "t1", "physical", fourth.id, "backup_manifest.zst"), "tampered");
    await assert.rejects(runBackupJob(seventeen, config, target, incremental), /the backup_manifest of backup .* does not match its sha256/);
  });

  it("encrypted backups on 17 keep no plain backup_manifest, and refuse incrementals", async function () {
    const ran: ProgramRun[] = [];
    const encrypted = parseConfig(`cluster: t1\nbackups:\n  encryption: { recipients: [age1${"q".repeat(58)}] }\n`, "test");
    const seventeen = fakeRuntime(() => ({ result: { rawBytes: 10, wal: { startLsn: "0/2000028", endLsn: "0/2000100", timeline: 1 } } }), ran, { versionNum: 170012, summarizeWal: "on" });
    const full = await runBackupJob(seventeen, encrypted, target, { kind: "physical" });
    assert.equal(full.files.some((file) => file.content === "pg-manifest"), false);
    assert.equal(ran[0]?.program.env["PGFORT_KEEP_MANIFEST"], undefined);
    await assert.rejects(runBackupJob(seventeen, encrypted, target, { kind: "physical", incremental: { fullEvery: 7 } }), /incremental backups are not taken with backups\.encryption/);
  });

  it("incremental on 15, or with summarize_wal off: refused before anything runs", async function () {
    const ran: ProgramRun[] = [];
    await assert.rejects(runBackupJob(fakeRuntime(() => ({}), ran), config, target, { kind: "physical", incremental: { fullEvery: 7 } }), /incremental backups need PostgreSQL 17 or later: the primary runs 15/);
    await assert.rejects(
      runBackupJob(fakeRuntime(() => ({}), ran, { versionNum: 170012, summarizeWal: "off" }), config, target, { kind: "physical", incremental: { fullEvery: 7 } }),
      /summarize_wal is off/,
    );
    assert.equal(ran.length, 0);
  });

  it("a failing program: a BackupError with the tool's message and a hint, and nothing left in the target", async function () {
    const runtime = fakeRuntime((run) => (run.program.env["PGFORT_DATABASE"] === "postgres" ? { exitCode: 1, stderr: "pg_dump: error: connection to server failed: Connection refused\n" } : {}));
    await assert.rejects(runBackupJob(runtime, config, target, { kind: "logical" }), (error: unknown) => {
      assert.ok(error instanceof BackupError);
      assert.match(error.message, /pg_dump for postgres\.pgcustom\.zst failed \(exit 1\): .*Connection refused/);
      assert.match(error.hint, /primary went away/);
      return true;
    });
    assert.deepEqual(await filesUnder(directory), []);
  });

  it("the server dying under the globals and the first dump at once: the dump's failure is the one reported", async function () {
    const runtime = fakeRuntime(() => ({ exitCode: 1, stderr: "server closed the connection unexpectedly\n" }));
    await assert.rejects(runBackupJob(runtime, config, target, { kind: "logical", databases: ["app"] }), /^BackupError: pg_dump for app\.pgcustom\.zst failed/);
    assert.deepEqual(await filesUnder(directory), []);
  });

  it("a program that exits 0 without a result line fails the backup", async function () {
    await assert.rejects(runBackupJob(fakeRuntime(() => ({ result: { rawBytes: "many" } })), config, target, { kind: "physical" }), /without a valid result line/);
    assert.deepEqual(await filesUnder(directory), []);
  });

  it("an unknown database is refused before anything runs, naming the ones there are", async function () {
    const ran: ProgramRun[] = [];
    await assert.rejects(runBackupJob(fakeRuntime(() => ({}), ran), config, target, { kind: "logical", databases: ["nope"] }), /database nope does not exist on t1-primary/);
    assert.equal(ran.length, 0);
  });

  it("an abort mid-stream rejects with the signal's reason and leaves no file, partial or whole", async function () {
    const controller = new AbortController();
    const runtime = fakeRuntime((run) => (run.program.verb === "dump-database" ? { hang: true } : {}));
    const backup = runBackupJob(runtime, config, target, { kind: "logical", signal: controller.signal });
    setTimeout(() => controller.abort(new InterruptedError("SIGTERM")), 100);
    await assert.rejects(backup, InterruptedError);
    assert.deepEqual(await filesUnder(directory), []);
  });
});
