// pgfort-archive-wal, the servers' archive_command, run in real bash against a spool directory
// whose agent side the test plays (it writes NAME.done / NAME.failed itself): no Docker, no server.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { packagePath } from "../../../src/paths";

const SCRIPT = packagePath("images", "postgres", "pgfort-archive-wal.sh");
const SEGMENT = "000000010000000000000003";
const MiB = 1024 * 1024;

interface Run {
  code: number;
  stderr: string;
}

describe("pgfort-archive-wal", function () {
  this.timeout(20_000);
  let directory: string;
  let sockets: string;
  let spool: string;
  let pgWal: string;

  beforeEach(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-archive-"));
    sockets = path.join(directory, "sockets");
    spool = path.join(sockets, "app-primary", "archive");
    pgWal = path.join(directory, "data", "pg_wal");
    mkdirSync(path.join(pgWal, "archive_status"), { recursive: true });
    mkdirSync(path.dirname(spool), { recursive: true }); // the entrypoint makes the server's directory
    writeFileSync(path.join(pgWal, SEGMENT), Buffer.alloc(16 * MiB, 7));
    writeFileSync(path.join(pgWal, "archive_status", `${SEGMENT}.ready`), "");
    writeFileSync(path.join(sockets, ".agent-alive"), "");
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** The command as PostgreSQL runs it: cwd the data directory, %p relative. */
  function archive(maxPending = 1024 * MiB, env: Record<string, string> = {}): { done: Promise<Run> } {
    const child = spawn("bash", [SCRIPT, `pg_wal/${SEGMENT}`, SEGMENT, String(maxPending)], {
      cwd: path.dirname(pgWal),
      env: { PATH: process.env["PATH"] ?? "", PGFORT_SOCKETS_DIR: sockets, HOSTNAME: "app-primary", PGFORT_ARCHIVE_WAIT_SECONDS: "5", ...env },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    return { done: new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stderr }))) };
  }

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(check(), "condition not reached");
  }

  it("succeeds only once the agent answers done, with a whole copy in the spool", async function () {
    const run = archive();
    await until(() => existsSync(path.join(spool, `${SEGMENT}.ready`)));
    assert.equal(readFileSync(path.join(spool, `${SEGMENT}.ready`)).length, 16 * MiB);
    // The agent's part: the file is stored, it removes .ready and answers.
    rmSync(path.join(spool, `${SEGMENT}.ready`));
    writeFileSync(path.join(spool, `${SEGMENT}.done`), "");
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(readdirSync(spool), ["pending"], "the answer is consumed");
  });

  it("fails with the agent's reason and leaves the copy for its retry", async function () {
    const run = archive();
    await until(() => existsSync(path.join(spool, `${SEGMENT}.ready`)));
    writeFileSync(path.join(spool, `${SEGMENT}.failed`), "s3://bkt/app: connect ECONNREFUSED\n");
    const result = await run.done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /could not store 000000010000000000000003: s3:\/\/bkt\/app: connect ECONNREFUSED/);
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.ready`)));
  });

  it("fails at once, keeping the WAL, when the agent's mark is stale", async function () {
    const old = Date.now() / 1000 - 120;
    utimesSync(path.join(sockets, ".agent-alive"), old, old);
    const result = await archive().done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /agent is not running/);
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.ready`)), "nothing handed to nobody");
  });

  it("stops waiting when the agent's mark goes away mid-wait", async function () {
    const run = archive();
    await until(() => existsSync(path.join(spool, `${SEGMENT}.ready`)));
    rmSync(path.join(sockets, ".agent-alive"));
    const result = await run.done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the agent stopped while storing/);
  });

  it("fails when no answer comes in time", async function () {
    const result = await archive(1024 * MiB, { PGFORT_ARCHIVE_WAIT_SECONDS: "1" }).done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no answer from the agent/);
  });

  it("past maxPending gives the file up with a skipped mark, even with no agent", async function () {
    for (let segment = 4; segment < 8; segment++) writeFileSync(path.join(pgWal, "archive_status", `00000001000000000000000${segment}.ready`), "");
    rmSync(path.join(sockets, ".agent-alive"));
    // 5 ready files x 16 MiB = 80 MiB > 64 MiB.
    const result = await archive(64 * MiB).done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /WARNING: 83886080 bytes of WAL wait .* over wal.maxPending \(67108864\): 000000010000000000000003 leaves pg_wal unarchived/);
    const [stamp, bytes] = readFileSync(path.join(spool, `${SEGMENT}.skipped`), "utf8").trim().split(" ");
    assert.match(stamp ?? "", /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(bytes, "83886080");
    assert.equal(readFileSync(path.join(spool, "pending"), "utf8"), `83886080 ${SEGMENT}\n`, "the backlog, for the agent's status");
  });

  it("under the bound, waits for the agent as usual", async function () {
    const result = await archive(80 * MiB, { PGFORT_ARCHIVE_WAIT_SECONDS: "1" }).done;
    assert.equal(result.code, 1, "16 MiB pending is under 80 MiB: no skip");
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.skipped`)));
  });

  it("a done answer that came after the last attempt gave up counts on the next", async function () {
    mkdirSync(spool, { recursive: true });
    writeFileSync(path.join(spool, `${SEGMENT}.done`), "");
    const result = await archive().done;
    assert.equal(result.code, 0, result.stderr);
  });

  it("hands over the next ready files with this one, so the agent stores them while PostgreSQL waits", async function () {
    const later = ["000000010000000000000004", "000000010000000000000004.00000028.backup", "000000010000000000000005", "000000010000000000000006", "000000010000000000000007", "000000010000000000000008"];
    for (const [index, name] of later.entries()) {
      writeFileSync(path.join(pgWal, name), Buffer.alloc(1024, index + 1));
      writeFileSync(path.join(pgWal, "archive_status", `${name}.ready`), "");
    }
    // Older than this one (PostgreSQL archives it itself) and a file already stored: not copied.
    writeFileSync(path.join(pgWal, "000000010000000000000002"), "old");
    writeFileSync(path.join(pgWal, "archive_status", "000000010000000000000002.ready"), "");
    mkdirSync(spool, { recursive: true });
    writeFileSync(path.join(spool, "000000010000000000000005.done"), "");
    const run = archive(1024 * MiB);
    await until(() => existsSync(path.join(spool, `${SEGMENT}.ready`)) && existsSync(path.join(spool, "000000010000000000000006.ready")));
    writeFileSync(path.join(spool, `${SEGMENT}.done`), "");
    rmSync(path.join(spool, `${SEGMENT}.ready`));
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    const ready = readdirSync(spool).filter((name) => name.endsWith(".ready")).sort();
    // Four ahead (PGFORT_ARCHIVE_AHEAD): 04, its backup history file, 05 (stored: skipped), 06.
    assert.deepEqual(ready, ["000000010000000000000004.00000028.backup.ready", "000000010000000000000004.ready", "000000010000000000000006.ready"]);
    assert.deepEqual(readFileSync(path.join(spool, "000000010000000000000006.ready")), Buffer.alloc(1024, 4), "a whole copy");
  });

  it("a failure answered to an earlier attempt is not this attempt's answer", async function () {
    mkdirSync(spool, { recursive: true });
    writeFileSync(path.join(spool, `${SEGMENT}.failed`), "an earlier outage\n");
    const run = archive();
    await until(() => existsSync(path.join(spool, `${SEGMENT}.ready`)));
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.failed`)));
    writeFileSync(path.join(spool, `${SEGMENT}.done`), "");
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /earlier outage/);
  });
});
