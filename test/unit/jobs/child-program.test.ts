// runChildProgram with a real bash program standing in for pgfort-job: its stdout piped, stdin
// fed, the result line taken, and an abort that reaches every process of its pipeline.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { runChildProgram } from "../../../src/jobs/child-program";

function collect(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) }),
    text: () => Buffer.concat(chunks).toString(),
  };
}

describe("runChildProgram", function () {
  let directory: string;
  let command: string;

  beforeEach(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), "child-program-"));
    command = path.join(directory, "job");
    // The verb picks the behaviour; parameters arrive in the environment, as pgfort-job's do.
    writeFileSync(
      command,
      [
        "#!/usr/bin/env bash",
        'case "$1" in',
        '  echo) printf "%s" "$PGFORT_TEXT"; echo "tool says hi" >&2; echo \'PGFORT-RESULT {"rawBytes":5}\' >&2 ;;',
        "  upper) tr a-z A-Z ;;",
        '  fail) echo "pg_dump: error: connection refused" >&2; exit 3 ;;',
        '  hang) sleep "$PGFORT_SLEEP" | cat; echo "never" ;;',
        "esac",
      ].join("\n"),
    );
    chmodSync(command, 0o755);
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it("pipes stdout, keeps the tool's stderr and returns the result line", async function () {
    const out = collect();
    const run = await runChildProgram({ verb: "echo", env: { PGFORT_TEXT: "hello" } }, { command, stdout: [out.stream] });
    assert.equal(run.exitCode, 0);
    assert.equal(out.text(), "hello");
    assert.deepEqual(run.result, { rawBytes: 5 });
    assert.match(run.stderr.toString(), /tool says hi/);
    assert.doesNotMatch(run.stderr.toString(), /PGFORT-RESULT/);
  });

  it("feeds stdin through the program", async function () {
    const out = collect();
    const run = await runChildProgram({ verb: "upper", env: {} }, { command, stdin: Readable.from([Buffer.from("abc\n")]), stdout: [out.stream] });
    assert.equal(run.exitCode, 0);
    assert.equal(out.text(), "ABC\n");
  });

  it("reports a failing tool's exit status and message", async function () {
    const run = await runChildProgram({ verb: "fail", env: {} }, { command });
    assert.equal(run.exitCode, 3);
    assert.match(run.stderr.lastLines(2), /connection refused/);
  });

  it("on abort kills the whole pipeline and rejects with the reason", async function () {
    const controller = new AbortController();
    // A duration no other process on the machine uses: pgrep finds this test's sleep only.
    const marker = `300.${process.pid}${Math.floor(Math.random() * 1000)}`;
    const running = runChildProgram({ verb: "hang", env: { PGFORT_SLEEP: marker } }, { command, stdout: [new PassThrough().resume()], signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = execFileSync("pgrep", ["-f", `sleep ${marker}`], { encoding: "utf8" }).trim();
    assert.notEqual(before, "", "the program's sleep should be running");
    controller.abort(new Error("stopped by the test"));
    await assert.rejects(running, /stopped by the test/);
    const after = (() => {
      try {
        return execFileSync("pgrep", ["-f", `sleep ${marker}`], { encoding: "utf8" }).trim();
      } catch {
        return "";
      }
    })();
    assert.equal(after, "", "no process of the program may outlive the abort");
  });
});
