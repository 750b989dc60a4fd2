// pgfort-job, the programs of the job containers, run in real bash with fake Postgres tools on
// PATH (each a small script that records what it was given): no Docker, no server.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { readJobResult } from "../../../src/backup/job";
import { ROW_COUNT_QUERY } from "../../../src/backup/plan";
import { RESULT_PREFIX } from "../../../src/docker/throwaway";
import { packagePath } from "../../../src/paths";

const JOB = packagePath("images", "postgres", "pgfort-job.sh");

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
  result: unknown;
}

describe("pgfort-job", function () {
  let directory: string;
  let bin: string;
  let secret: string;

  beforeEach(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-job-"));
    bin = path.join(directory, "bin");
    mkdirSync(bin);
    secret = path.join(directory, "password");
    writeFileSync(secret, "s3cret with spaces"); // no trailing newline, as pgfort writes it
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** A fake tool: a bash script on PATH, ahead of any real one. */
  function fake(name: string, body: string): void {
    const file = path.join(bin, name);
    writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(file, 0o755);
  }

  /** Runs `pgfort-job VERB` as the image does (executed, not sourced). */
  function job(verb: string, env: Record<string, string> = {}, stdin?: Buffer | string): Run {
    const run = spawnSync("bash", [JOB, verb], {
      env: {
        PATH: `${bin}:${process.env["PATH"] ?? ""}`,
        PGFORT_TMP: directory,
        PGFORT_SECRET_FILE: secret,
        PGFORT_PGUSER: "postgres",
        PGFORT_COMPRESSION: "none",
        ...env,
      },
      ...(stdin !== undefined ? { input: stdin } : {}),
    });
    const stderr = run.stderr.toString();
    const lines = stderr.split("\n").filter((line) => line.startsWith(RESULT_PREFIX));
    assert.ok(lines.length <= 1, `at most one result line, got:\n${stderr}`);
    const line = lines[0];
    return { code: run.status ?? -1, stdout: run.stdout, stderr, result: line ? JSON.parse(line.slice(RESULT_PREFIX.length)) : undefined };
  }

  function recorded(name: string): string {
    return readFileSync(path.join(directory, name), "utf8");
  }

  describe("compression", function () {
    it("pipes through the compressor the environment selects, with its level and threads", function () {
      fake("pg_dumpall", "printf 'CREATE ROLE x;\\n'");
      fake("zstd", `printf '%s\\n' "$@" > "${directory}/zstd-args"; exec cat`);
      fake("lz4", `printf '%s\\n' "$@" > "${directory}/lz4-args"; exec cat`);
      const zstd = job("dump-globals", { PGFORT_COMPRESSION: "zstd", PGFORT_COMPRESSION_LEVEL: "7", PGFORT_COMPRESSION_THREADS: "2" });
      assert.equal(zstd.code, 0, zstd.stderr);
      assert.equal(zstd.stdout.toString(), "CREATE ROLE x;\n");
      assert.deepEqual(recorded("zstd-args").trim().split("\n"), ["-vv", "-c", "-7", "-T2"]);
      const lz4 = job("dump-globals", { PGFORT_COMPRESSION: "lz4", PGFORT_COMPRESSION_LEVEL: "19" });
      assert.equal(lz4.code, 0, lz4.stderr);
      assert.deepEqual(recorded("lz4-args").trim().split("\n"), ["-v", "-c", "-12"], "lz4 stops at level 12");
      const none = job("dump-globals", { PGFORT_COMPRESSION: "none" });
      assert.equal(none.stdout.toString(), "CREATE ROLE x;\n");
      const wrong = job("dump-globals", { PGFORT_COMPRESSION: "brotli" });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /must be zstd, lz4 or none, not brotli/);
      assert.equal(wrong.result, undefined);
    });

    it("encrypts with age after the compressor, to every recipient, and decrypts before decompressing", function () {
      const keys = ["age1" + "q".repeat(58), "age1" + "p".repeat(58)];
      fake("pg_dumpall", "printf 'CREATE ROLE x PASSWORD secret;\\n'");
      fake("zstd", "sed 's/^/zstd:/'");
      // A stand-in for age: it records its arguments and marks what passed through it.
      fake("age", `printf '%s\\n' "$@" > "${directory}/age-args"; if [ "$1" = -d ]; then sed 's/^age://'; else sed 's/^/age:/'; fi`);
      const sealed = job("dump-globals", { PGFORT_COMPRESSION: "zstd", PGFORT_AGE_RECIPIENTS: keys.join(" ") });
      assert.equal(sealed.code, 0, sealed.stderr);
      assert.equal(sealed.stdout.toString(), "age:zstd:CREATE ROLE x PASSWORD secret;\n", "compressed, then encrypted");
      assert.deepEqual(recorded("age-args").trim().split("\n"), ["-r", keys[0], "-r", keys[1]]);
      const plain = job("dump-globals", { PGFORT_COMPRESSION: "none", PGFORT_AGE_RECIPIENTS: keys[0] ?? "" });
      assert.equal(plain.stdout.toString(), "age:CREATE ROLE x PASSWORD secret;\n", "encrypted without compression too");
      const bad = job("dump-globals", { PGFORT_AGE_RECIPIENTS: "not-a-key" });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /not an age public key/);

      const identity = path.join(directory, "identity");
      writeFileSync(identity, "AGE-SECRET-KEY-1X\n");
      fake("psql", `cat > "${directory}/psql-in"`);
      const restored = job("restore-globals", { PGFORT_DECOMPRESSION: "none", PGFORT_AGE_IDENTITY_FILE: identity }, "age:CREATE ROLE y;\n");
      assert.equal(restored.code, 0, restored.stderr);
      assert.equal(recorded("psql-in"), "CREATE ROLE y;\n");
      assert.deepEqual(recorded("age-args").trim().split("\n"), ["-d", "-i", identity]);
      const missing = job("restore-globals", { PGFORT_AGE_IDENTITY_FILE: path.join(directory, "nope") }, "x");
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /encrypted and there is no identity file/);
    });

    it("really compresses with zstd: what it writes decompresses to the tool's bytes", function () {
      fake("pg_dumpall", "head -c 100000 /dev/zero");
      const run = job("dump-globals", { PGFORT_COMPRESSION: "zstd", PGFORT_COMPRESSION_LEVEL: "3" });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stdout.length < 1000, `compressed to ${run.stdout.length} bytes`);
      const back = spawnSync("zstd", ["-dc"], { input: run.stdout });
      assert.equal(back.stdout.length, 100000);
      assert.deepEqual(readJobResult(run.result, "dump-globals"), { rawBytes: 100000 }, "zstd's own report counts the raw bytes");
    });

    it("counts the raw bytes from lz4's report too, and reports none without compression", function () {
      fake("pg_dumpall", "head -c 123457 /dev/zero");
      const lz4 = job("dump-globals", { PGFORT_COMPRESSION: "lz4", PGFORT_COMPRESSION_LEVEL: "1" });
      assert.equal(lz4.code, 0, lz4.stderr);
      assert.equal(spawnSync("lz4", ["-dc"], { input: lz4.stdout }).stdout.length, 123457);
      assert.deepEqual(readJobResult(lz4.result, "dump-globals"), { rawBytes: 123457 });
      const none = job("dump-globals", { PGFORT_COMPRESSION: "none" });
      assert.equal(none.stdout.length, 123457);
      assert.deepEqual(readJobResult(none.result, "dump-globals"), { rawBytes: null }, "the job counts stored bytes itself");
    });
  });

  describe("pipefail", function () {
    it("fails the job when the tool fails, though the compressor at the end of the pipe succeeds", function () {
      fake("pg_dumpall", "printf 'partial'; echo 'pg_dumpall: error: connection lost' >&2; exit 3");
      fake("zstd", "exec cat");
      const run = job("dump-globals", { PGFORT_COMPRESSION: "zstd" });
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /connection lost/);
      assert.match(run.stderr, /failed with exit status/, "the ERR trap names the failed command");
      assert.equal(run.result, undefined, "no result line for a failed job");
    });

    it("shows the failed tool's message, not the compressor's verbose report", function () {
      fake("pg_dumpall", "head -c 5000 /dev/zero; echo 'pg_dumpall: error: query failed: invalid page in block 3' >&2; exit 1");
      const run = job("dump-globals", { PGFORT_COMPRESSION: "zstd" });
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /invalid page in block 3/);
      assert.doesNotMatch(run.stderr, /Decompression will require|\/\*stdin\*/, "zstd's report stays in its file");
      assert.match(run.stderr.trim().split("\n").slice(-6).join("\n"), /invalid page in block 3/, "the tool's message is among the last lines, which the error shows");
    });

    it("fails the job when the compressor fails", function () {
      fake("pg_dumpall", "printf 'data'");
      fake("zstd", "cat >/dev/null; echo 'zstd: error 70 : Write error : No space left on device' >&2; exit 1");
      const run = job("dump-globals", { PGFORT_COMPRESSION: "zstd" });
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /No space left on device/, "the compressor's own message is shown");
      assert.equal(run.result, undefined);
    });

    it("compress-stdin: the parallel engine's bundle, compressed straight from stdin, its raw bytes counted", function () {
      const input = Buffer.alloc(300_000, "pgfort bundle ");
      const zstd = job("compress-stdin", { PGFORT_COMPRESSION: "zstd", PGFORT_COMPRESSION_LEVEL: "3" }, input);
      assert.equal(zstd.code, 0, zstd.stderr);
      assert.ok(zstd.stdout.length < input.length / 10);
      assert.deepEqual(spawnSync("zstd", ["-dc"], { input: zstd.stdout }).stdout, input);
      assert.deepEqual(zstd.result, { rawBytes: input.length });
      const lz4 = job("compress-stdin", { PGFORT_COMPRESSION: "lz4", PGFORT_COMPRESSION_LEVEL: "1" }, input);
      assert.deepEqual(spawnSync("lz4", ["-dc"], { input: lz4.stdout }).stdout, input);
      assert.deepEqual(lz4.result, { rawBytes: input.length });
      fake("zstd", "cat >/dev/null; echo 'zstd: error 70 : Write error : No space left on device' >&2; exit 1");
      const failed = job("compress-stdin", { PGFORT_COMPRESSION: "zstd" }, input);
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /No space left on device/);
      assert.equal(failed.result, undefined);
    });
  });

  describe("password", function () {
    it("goes from its file into a 0600 pgpass, never into argv or a tool's environment", function () {
      fake(
        "pg_dumpall",
        `printf '%s\\n' "$@" > "${directory}/argv"; env > "${directory}/env"; cp "$PGPASSFILE" "${directory}/pgpass-seen"; stat -c %a "$PGPASSFILE" > "${directory}/pgpass-mode"`,
      );
      const run = job("dump-globals", { PGFORT_PGUSER: "backup_role", PGFORT_PGHOST: "10.0.0.5" });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(recorded("pgpass-seen"), "*:*:*:backup_role:s3cret with spaces\n");
      assert.equal(recorded("pgpass-mode").trim(), "600");
      assert.doesNotMatch(recorded("argv"), /s3cret/);
      assert.doesNotMatch(recorded("env"), /s3cret/);
      assert.match(recorded("env"), /^PGUSER=backup_role$/m);
      assert.match(recorded("env"), /^PGHOST=10\.0\.0\.5$/m);
      assert.equal(statSync(path.join(directory, "pgpass")).mode & 0o777, 0o600);
    });

    it("refuses to run without a password file", function () {
      fake("pg_dumpall", "exit 0");
      const run = job("dump-globals", { PGFORT_SECRET_FILE: path.join(directory, "missing") });
      assert.notEqual(run.code, 0);
      assert.equal(run.result, undefined);
    });
  });

  describe("dump-database", function () {
    // psql as a coprocess: answers the snapshot, the row count and the commit sentinel in order.
    const fakePsql = (counts: string) => `while IFS= read -r line; do
  case "$line" in
    "SELECT pg_export_snapshot();") echo 00000003-0000001B-1 ;;
    *json_object_agg*) echo '${counts}' ;;
    "SELECT 'pgfort-counted';") echo pgfort-counted ;;
    "SELECT 'pgfort-committed';") echo pgfort-committed ;;
  esac
done`;

    it("dumps in the exported snapshot and reports raw bytes and row counts as one JSON line", function () {
      fake("psql", fakePsql('{"public.t":3,"public.u":0}'));
      fake("pg_dump", `printf '%s\\n' "$@" > "${directory}/pg_dump-args"; printf 'PGDMP-bytes'`);
      const run = job("dump-database", { PGFORT_DATABASE: "my app", PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.toString(), "PGDMP-bytes");
      assert.deepEqual(recorded("pg_dump-args").trim().split("\n"), ["-Fc", "-Z0", "--snapshot=00000003-0000001B-1", "-d", "my app"]);
      assert.deepEqual(readJobResult(run.result, "pg_dump"), { rawBytes: null, rowCounts: { "public.t": 3, "public.u": 0 } });
    });

    it("uses pg_dump's own compression in builtin mode (no raw byte count)", function () {
      fake("psql", fakePsql("{}"));
      fake("pg_dump", `printf '%s\\n' "$@" > "${directory}/pg_dump-args"; printf 'x'`);
      const run = job("dump-database", { PGFORT_DATABASE: "app", PGFORT_DUMP_MODE: "builtin", PGFORT_COMPRESSION_LEVEL: "19", PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY });
      assert.equal(run.code, 0, run.stderr);
      assert.match(recorded("pg_dump-args"), /^-Z9$/m);
      assert.deepEqual(run.result, { rawBytes: null, rowCounts: {} });
    });

    it("fails when pg_dump fails mid-stream, or the snapshot session does not end well", function () {
      fake("psql", fakePsql("{}"));
      fake("pg_dump", "printf 'half'; exit 1");
      const broken = job("dump-database", { PGFORT_DATABASE: "app", PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY });
      assert.notEqual(broken.code, 0);
      assert.equal(broken.result, undefined);
      fake("psql", fakePsql("{}").replace("echo pgfort-committed", "echo ERROR"));
      fake("pg_dump", "printf 'whole'");
      const session = job("dump-database", { PGFORT_DATABASE: "app", PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY });
      assert.notEqual(session.code, 0);
      assert.match(session.stderr, /snapshot session of app failed/);
      assert.equal(session.result, undefined);
    });
  });

  describe("basebackup", function () {
    it("reports the WAL range from pg_basebackup's own report as JSON, the label as one argument", function () {
      fake(
        "pg_basebackup",
        `printf '%s\\n' "$@" > "${directory}/args"; printf 'TAR'
echo 'pg_basebackup: write-ahead log start point: 0/5000028 on timeline 2' >&2
echo 'pg_basebackup: write-ahead log end point: 0/5000100' >&2`,
      );
      const run = job("basebackup", { PGFORT_BACKUP_LABEL: "pgfort 2026'; rm -rf /" });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.toString(), "TAR");
      assert.ok(recorded("args").split("\n").includes("--label=pgfort 2026'; rm -rf /"));
      assert.deepEqual(readJobResult(run.result, "pg_basebackup"), { rawBytes: null, wal: { startLsn: "0/5000028", endLsn: "0/5000100", timeline: 2 } });
      assert.match(run.stderr, /write-ahead log end point/, "the tool's report is still on stderr");
    });

    it("keeps the stream's backup_manifest, compressed, and backs up incrementally against a parent's", function () {
      const tarDir = path.join(directory, "tar-src");
      mkdirSync(tarDir);
      writeFileSync(path.join(tarDir, "PG_VERSION"), "17\n");
      writeFileSync(path.join(tarDir, "backup_manifest"), '{ "PostgreSQL-Backup-Manifest-Version": 2 }\n');
      fake(
        "pg_basebackup",
        `printf '%s\\n' "$@" > "${directory}/args"
for arg in "$@"; do case "$arg" in --incremental=*) cp "\${arg#--incremental=}" "${directory}/parent-seen" ;; esac; done
tar -C "${tarDir}" -cf - PG_VERSION backup_manifest
echo 'pg_basebackup: write-ahead log start point: 0/5000028 on timeline 1' >&2
echo 'pg_basebackup: write-ahead log end point: 0/5000100' >&2`,
      );
      const kept = job("basebackup", { PGFORT_KEEP_MANIFEST: "1", PGFORT_COMPRESSION: "zstd" });
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal(readJobResult(kept.result, "pg_basebackup").pgManifest, "backup_manifest.stored");
      const stored = path.join(directory, "backup_manifest.stored");
      const unpacked = spawnSync("zstd", ["-dc", stored]);
      assert.equal(unpacked.stdout.toString(), '{ "PostgreSQL-Backup-Manifest-Version": 2 }\n');
      assert.ok(!recorded("args").includes("--incremental"), "a full backup without a parent");
      // The tar stream itself went through whole (zstd-compressed here).
      assert.match(spawnSync("tar", ["-tf", "-"], { input: spawnSync("zstd", ["-dc"], { input: kept.stdout }).stdout }).stdout.toString(), /^PG_VERSION\nbackup_manifest\n$/);

      const parent = path.join(directory, "parent.stored");
      writeFileSync(parent, readFileSync(stored));
      const incremental = job("basebackup", { PGFORT_KEEP_MANIFEST: "1", PGFORT_PARENT_MANIFEST: "parent.stored", PGFORT_PARENT_DECOMPRESSION: "zstd" });
      assert.equal(incremental.code, 0, incremental.stderr);
      assert.ok(recorded("args").split("\n").some((arg) => arg.startsWith("--incremental=")));
      assert.equal(recorded("parent-seen"), '{ "PostgreSQL-Backup-Manifest-Version": 2 }\n', "pg_basebackup got the parent's manifest decompressed");

      writeFileSync(parent, "not zstd");
      const damaged = job("basebackup", { PGFORT_KEEP_MANIFEST: "1", PGFORT_PARENT_MANIFEST: "parent.stored", PGFORT_PARENT_DECOMPRESSION: "zstd" });
      assert.notEqual(damaged.code, 0);
      assert.match(damaged.stderr, /the parent backup's backup_manifest .* could not be decompressed/);
    });

    it("fails when pg_basebackup fails or does not report its WAL range", function () {
      fake("pg_basebackup", "echo 'pg_basebackup: error: requested WAL segment has already been removed' >&2; exit 1");
      const failed = job("basebackup");
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /has already been removed/);
      fake("pg_basebackup", "printf 'TAR'");
      const silent = job("basebackup");
      assert.notEqual(silent.code, 0);
      assert.match(silent.stderr, /did not report its WAL start and end points/);
      assert.equal(silent.result, undefined);
    });
  });

  describe("restore", function () {
    it("drops the expected 'already exists' errors of the globals, and fails on any other", function () {
      fake("psql", "cat >/dev/null; echo 'psql:<stdin>:3: ERROR:  role \"postgres\" already exists' >&2");
      const ok = job("restore-globals", { PGFORT_DECOMPRESSION: "none" }, "CREATE ROLE postgres;\n");
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(ok.result, { restored: "globals" });
      fake("psql", "cat >/dev/null; echo 'psql:<stdin>:4: ERROR:  syntax error at or near \"CREAT\"' >&2");
      const bad = job("restore-globals", { PGFORT_DECOMPRESSION: "none" }, "CREAT ROLE x;\n");
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /^psql: .*syntax error/m);
      assert.equal(bad.result, undefined);
    });

    it("decompresses into pg_restore, creating the database unless it is postgres", function () {
      fake("pg_restore", `printf '%s\\n' "$@" > "${directory}/args"; cat > "${directory}/input"`);
      const compressed = spawnSync("zstd", ["-c"], { input: "PGDMP" }).stdout;
      const run = job("restore-database", { PGFORT_DECOMPRESSION: "zstd", PGFORT_DATABASE: "app" }, compressed);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(recorded("input"), "PGDMP");
      assert.deepEqual(recorded("args").trim().split("\n"), ["--exit-on-error", "--no-password", "--create", "-d", "postgres"]);
      job("restore-database", { PGFORT_DATABASE: "postgres" }, "PGDMP");
      assert.deepEqual(recorded("args").trim().split("\n"), ["--exit-on-error", "--no-password", "-d", "postgres"]);
      fake("pg_restore", "cat >/dev/null; exit 1");
      assert.notEqual(job("restore-database", { PGFORT_DATABASE: "app" }, "PGDMP").code, 0);
    });

    it("extracts a base tar into the data directory, and fails on a truncated one", function () {
      const source = path.join(directory, "source");
      mkdirSync(source);
      writeFileSync(path.join(source, "PG_VERSION"), "15\n");
      const tar = spawnSync("tar", ["-c", "-C", source, "PG_VERSION"]).stdout;
      const data = path.join(directory, "data");
      mkdirSync(data);
      const run = job("extract-base", { PGFORT_DATA_DIR: data, PGFORT_DECOMPRESSION: "none" }, tar);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(readFileSync(path.join(data, "PG_VERSION"), "utf8"), "15\n");
      const truncated = job("extract-base", { PGFORT_DATA_DIR: data, PGFORT_DECOMPRESSION: "zstd" }, tar);
      assert.notEqual(truncated.code, 0, "not zstd data: the decompressor fails the step");
    });
  });

  describe("major upgrade", function () {
    const socketEnv = { PGFORT_SECRET_FILE: "", PGFORT_PGHOST: "/sockets/new", PGFORT_SOURCE_HOST: "/sockets/old" };

    it("moves pg_dumpall of the old server into the new one, where only roles that exist may fail", function () {
      fake("pg_dumpall", `printf '%s\\n' "$@" > "${directory}/dumpall-args"; echo "PGHOST=$PGHOST" >> "${directory}/dumpall-args"; printf 'CREATE ROLE postgres;\\nCREATE ROLE app;\\n'`);
      fake("psql", `cat > "${directory}/psql-in"; echo "PGHOST=$PGHOST" > "${directory}/psql-host"; echo 'psql:<stdin>:1: ERROR:  role "postgres" already exists' >&2; echo 'psql:<stdin>:9: ERROR:  role "replicator" already exists' >&2`);
      const run = job("upgrade-move", socketEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.result, { moved: true });
      assert.deepEqual(recorded("dumpall-args").trim().split("\n"), ["-h", "/sockets/old", "-U", "postgres", "--no-password", "PGHOST=/sockets/new"]);
      assert.equal(recorded("psql-in"), "CREATE ROLE postgres;\nCREATE ROLE app;\n", "the whole dump reaches the new server");
      assert.equal(recorded("psql-host").trim(), "PGHOST=/sockets/new");

      fake("psql", `cat >/dev/null; echo 'psql:<stdin>:3: ERROR:  could not open extension control file "postgis.control"' >&2`);
      const failed = job("upgrade-move", socketEnv);
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /^psql: .*postgis\.control/m);
      assert.equal(failed.result, undefined);

      fake("psql", "cat >/dev/null");
      fake("pg_dumpall", "echo 'pg_dumpall: error: connection to server failed' >&2; exit 1");
      const unreachable = job("upgrade-move", socketEnv);
      assert.notEqual(unreachable.code, 0, "a dump that fails is a failed move, even when psql saw no error");
      assert.equal(unreachable.result, undefined);
    });

    it("starts the next WAL at the file it is given, with the new timeline's history ready for the archive, and only at a WAL file name", function () {
      fake("pg_resetwal", `printf '%s\\n' "$@" > "${directory}/resetwal-args"`);
      const data = path.join(directory, "data");
      mkdirSync(path.join(data, "pg_wal", "archive_status"), { recursive: true });
      const env = { PGFORT_DATA_DIR: data, PGFORT_NEXT_WAL_FILE: "00000003000000000000002A", PGFORT_TIMELINE_HISTORY: "2\t0/2A000000\tpgfort upgrade from PostgreSQL 15" };
      const run = job("reset-wal", env);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(recorded("resetwal-args").trim().split("\n"), ["-l", "00000003000000000000002A", "-D", data]);
      assert.deepEqual(run.result, { nextWalFile: "00000003000000000000002A", history: "00000003.history" });
      assert.equal(readFileSync(path.join(data, "pg_wal", "00000003.history"), "utf8"), "2\t0/2A000000\tpgfort upgrade from PostgreSQL 15\n");
      assert.equal(statSync(path.join(data, "pg_wal", "archive_status", "00000003.history.ready")).size, 0);
      const bad = job("reset-wal", { ...env, PGFORT_NEXT_WAL_FILE: "0000000300; rm -rf /" });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /must be a WAL file name/);
      fake("pg_resetwal", "echo 'pg_resetwal: error: lock file \"postmaster.pid\" exists' >&2; exit 1");
      rmSync(path.join(data, "pg_wal", "00000003.history"));
      const running = job("reset-wal", env);
      assert.notEqual(running.code, 0);
      assert.equal(running.result, undefined);
      assert.throws(() => statSync(path.join(data, "pg_wal", "00000003.history")), "no history file when pg_resetwal refused");
    });
  });

  it("refuses an unknown verb", function () {
    const run = job("drop-everything");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /usage: pgfort-job/);
  });
});
