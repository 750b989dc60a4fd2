// pgfort-job's scratch-* verbs (a drill's scratch server, a child of the job) and restores into it,
// run in real bash with fake initdb/pg_ctl/pg_restore on PATH that record what they were given.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { RESULT_PREFIX } from "../../../src/jobs/result-line";
import { packagePath } from "../../../src/paths";

const JOB = packagePath("images", "postgres", "pgfort-job.sh");

describe("pgfort-job scratch server verbs", function () {
  let directory: string;
  let bin: string;
  let scratch: string;
  let data: string;

  beforeEach(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-scratch-"));
    bin = path.join(directory, "bin");
    mkdirSync(bin);
    scratch = path.join(directory, "drill-0a1b2c");
    data = path.join(scratch, "data");
    mkdirSync(data, { recursive: true });
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  function fake(name: string, body: string): void {
    const file = path.join(bin, name);
    writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(file, 0o755);
  }

  /** Records argv one per line into <name>-args (appending, one call after another). */
  function recorder(name: string, then = "exit 0"): void {
    fake(name, `printf '%s\\n' "$@" >> "${directory}/${name}-args"; printf -- '--\\n' >> "${directory}/${name}-args"\n${then}`);
  }

  function args(name: string): string[][] {
    const file = path.join(directory, `${name}-args`);
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8")
      .split("--\n")
      .filter((call) => call !== "")
      .map((call) => call.trimEnd().split("\n"));
  }

  function job(verb: string, env: Record<string, string>, stdin?: string) {
    const run = spawnSync("bash", [JOB, verb], { env: { PATH: `${bin}:${process.env["PATH"] ?? ""}`, PGFORT_TMP: directory, ...env }, ...(stdin !== undefined ? { input: stdin } : {}) });
    const stderr = run.stderr.toString();
    const line = stderr.split("\n").find((candidate) => candidate.startsWith(RESULT_PREFIX));
    return { code: run.status ?? -1, stderr, result: line ? (JSON.parse(line.slice(RESULT_PREFIX.length)) as unknown) : undefined };
  }

  describe("scratch-init", function () {
    it("runs initdb with data checksums, the image's locale, trust on the socket only", function () {
      recorder("initdb", "echo 'Success. initdb talks on stdout'");
      const run = job("scratch-init", { PGFORT_DATA_DIR: data, PGFORT_LOCALE: "en_US.UTF-8" });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.result, { initialized: true });
      assert.deepEqual(args("initdb"), [
        ["-D", data, "-U", "postgres", "--data-checksums", "--auth-local=trust", "--auth-host=reject", "--no-sync", "--no-instructions", "--locale=en_US.UTF-8"],
      ]);
      assert.match(run.stderr, /initdb talks on stdout/, "initdb's output is kept with the job's messages, off stdout");
    });

    it("fails with initdb's status, and refuses a data directory that is not a plain absolute path", function () {
      recorder("initdb", "echo 'initdb: error: directory exists' >&2; exit 1");
      assert.equal(job("scratch-init", { PGFORT_DATA_DIR: data }).code, 1);
      const odd = job("scratch-init", { PGFORT_DATA_DIR: `${data} x'` });
      assert.equal(odd.code, 2);
      assert.match(odd.stderr, /must be absolute and plain/);
      assert.equal(args("initdb").length, 1, "initdb never ran for the odd path");
    });
  });

  describe("scratch-start", function () {
    it("writes the settings with no TCP, its own socket and trust hba last, sets the source's ALTER SYSTEM aside, and starts with pg_ctl -w", function () {
      recorder("pg_ctl");
      writeFileSync(path.join(data, "postgresql.auto.conf"), "shared_buffers = '8GB'\n");
      const run = job("scratch-start", {
        PGFORT_DATA_DIR: data,
        PGFORT_SCRATCH_DIR: scratch,
        PGFORT_SCRATCH_CONF: "shared_buffers = '32MB'\nlisten_addresses = '*'\nfsync = 'off'",
        PGFORT_START_TIMEOUT: "90",
      });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.result, { started: true });
      const conf = readFileSync(path.join(scratch, "postgresql.conf"), "utf8").trim().split("\n");
      assert.deepEqual(conf, [
        "shared_buffers = '32MB'",
        "listen_addresses = '*'",
        "fsync = 'off'",
        "listen_addresses = ''",
        `unix_socket_directories = '${scratch}'`,
        `hba_file = '${scratch}/pg_hba.conf'`,
        `ident_file = '${scratch}/pg_ident.conf'`,
      ]);
      assert.equal(readFileSync(path.join(scratch, "pg_hba.conf"), "utf8"), "local all all trust\n");
      assert.equal(readFileSync(path.join(data, "postgresql.auto.conf"), "utf8"), "");
      assert.equal(readFileSync(path.join(data, "postgresql.auto.conf.pgfort-drill"), "utf8"), "shared_buffers = '8GB'\n");
      assert.deepEqual(args("pg_ctl"), [["start", "-D", data, "-w", "-t", "90", "-l", `${scratch}/server.log`, "-o", `-c config_file=${scratch}/postgresql.conf`]]);
    });

    it("fails with the end of the server's log when it does not start", function () {
      recorder("pg_ctl", `echo 'FATAL:  could not locate a valid checkpoint record' > "${scratch}/server.log"; echo 'pg_ctl: could not start server' >&2; exit 1`);
      const run = job("scratch-start", { PGFORT_DATA_DIR: data, PGFORT_SCRATCH_DIR: scratch });
      assert.equal(run.code, 1);
      assert.equal(run.result, undefined);
      assert.match(run.stderr, /the scratch server did not start; its log ends:\nFATAL: {2}could not locate a valid checkpoint record/);
    });

    it("refuses a scratch directory whose name could break out of the config text", function () {
      recorder("pg_ctl");
      const run = job("scratch-start", { PGFORT_DATA_DIR: data, PGFORT_SCRATCH_DIR: `${scratch}'\nlisten_addresses='*` });
      assert.equal(run.code, 2);
      assert.deepEqual(args("pg_ctl"), []);
    });
  });

  describe("scratch-stop", function () {
    it("does nothing when no server runs (no postmaster.pid)", function () {
      recorder("pg_ctl");
      const run = job("scratch-stop", { PGFORT_DATA_DIR: data });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.result, { stopped: false });
      assert.deepEqual(args("pg_ctl"), []);
    });

    it("stops with the mode asked for, and kills the postmaster when pg_ctl cannot stop it", async function () {
      recorder("pg_ctl");
      writeFileSync(path.join(data, "postmaster.pid"), "999999\n/data\n");
      const run = job("scratch-stop", { PGFORT_DATA_DIR: data, PGFORT_STOP_MODE: "immediate" });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(args("pg_ctl"), [["stop", "-D", data, "-m", "immediate", "-w", "-t", "60"]]);

      // A process standing in for a postmaster that pg_ctl fails to stop.
      const sleeper = spawn("sleep", ["300"], { stdio: "ignore" });
      const exited = once(sleeper, "exit");
      writeFileSync(path.join(data, "postmaster.pid"), `${sleeper.pid ?? 0}\n/data\n`);
      recorder("pg_ctl", "exit 1");
      const killed = job("scratch-stop", { PGFORT_DATA_DIR: data });
      assert.equal(killed.code, 0, killed.stderr);
      assert.deepEqual(killed.result, { stopped: true });
      assert.deepEqual(await exited, [null, "SIGKILL"], "the process is killed");
    });

    it("refuses an unknown stop mode", function () {
      writeFileSync(path.join(data, "postmaster.pid"), "1\n");
      const run = job("scratch-stop", { PGFORT_DATA_DIR: data, PGFORT_STOP_MODE: "smart" });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /PGFORT_STOP_MODE must be fast or immediate, not smart/);
    });
  });

  describe("restores into the scratch server", function () {
    it("reach it on its socket directory with no password file", function () {
      fake("pg_restore", `printf '%s\\n' "$PGHOST" "$PGUSER" "\${PGPASSFILE:-none}" > "${directory}/env"; cat >/dev/null`);
      const run = job("restore-database", { PGFORT_PGHOST: scratch, PGFORT_PGUSER: "postgres", PGFORT_DATABASE: "app", PGFORT_DECOMPRESSION: "none" }, "dump");
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(readFileSync(path.join(directory, "env"), "utf8").trim().split("\n"), [scratch, "postgres", "none"]);
      assert.ok(!existsSync(path.join(directory, "pgpass")));
    });

    it("still need the password file for a server reached over TCP", function () {
      fake("pg_restore", "cat >/dev/null");
      const run = job("restore-database", { PGFORT_PGHOST: "127.0.0.1", PGFORT_PGUSER: "postgres", PGFORT_DATABASE: "app" }, "dump");
      assert.equal(run.code, 1);
      assert.match(run.stderr, /PGFORT_SECRET_FILE must name the password file/);
    });
  });
});
