// verifyInJob with a fake pgfort-job and fake pg_amcheck/psql (bash scripts) and a real file
// target: which outcomes give which verdict, which write none, and that the scratch directory is
// gone after each of them.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeTools } from "./fake-tools";
import { parseConfig, type LoadedConfig } from "../../../src/config/load";
import { DrillError } from "../../../src/errors";
import type { BackupManifest } from "../../../src/backup/manifest";
import { FileTarget } from "../../../src/backup/targets/file";
import { VerdictSchema } from "../../../src/backup/verdict";
import { verifyInJob } from "../../../src/jobs/drill";

const DIRECTORY = "c1/logical/20261201T000000Z-abcdef/";

describe("verifyInJob", function () {
  let root: string;
  let bin: string;
  let scratch: string;
  let control: string;
  let target: FileTarget;
  let manifest: BackupManifest;
  let tools: FakeTools;
  const script = (name: string, body: string) => tools.script(name, body);
  const loaded: LoadedConfig = { config: parseConfig("{}"), file: undefined, baseDir: "/", stateDir: "/nonexistent" };

  beforeEach(function () {
    root = mkdtempSync(path.join(os.tmpdir(), "drill-"));
    bin = path.join(root, "bin");
    scratch = path.join(root, "scratch");
    control = path.join(root, "control");
    for (const directory of [bin, scratch, control]) mkdirSync(directory);
    tools = new FakeTools(bin);
    target = new FileTarget(path.join(root, "target"));
    const files = { "globals.sql": "CREATE ROLE app;\n", "app.pgcustom": "PGDMP fake dump" };
    mkdirSync(path.join(root, "target", DIRECTORY), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, "target", DIRECTORY, name), text);
    manifest = {
      formatVersion: 1,
      id: "20261201T000000Z-abcdef",
      cluster: "c1",
      kind: "logical",
      job: null,
      source: "primary",
      files: Object.entries(files).map(([name, text]) => ({
        name,
        content: name === "globals.sql" ? ("globals" as const) : ("database" as const),
        ...(name === "globals.sql" ? {} : { database: "app" }),
        bytes: Buffer.byteLength(text),
        rawBytes: null,
        sha256: createHash("sha256").update(text).digest("hex"),
        compression: "none" as const,
      })),
      pgVersion: "15",
      databases: ["app"],
      startedAt: "2026-12-01T00:00:00.000Z",
      finishedAt: "2026-12-01T00:00:01.000Z",
      tool: { name: "pgfort", version: "0.0.0" },
      compression: { method: "none", level: null },
      rowCounts: { app: { "public.t": 3 } },
    };
    // The verb's behaviour: a file per verb in control/ ("fail", "killed", "hang"); calls logged.
    script(
      "pgfort-job",
      `verb="$1"; echo "$verb \${PGFORT_STOP_MODE:-}" >> "${root}/calls"
mode="$(cat "${control}/$verb" 2>/dev/null || true)"
case "$mode" in fail) echo "psql: ERROR:  relation exists" >&2; exit 1 ;; killed) exit 137 ;; hang) exec sleep 300 ;; esac
case "$verb" in
  scratch-init) mkdir -p "$PGFORT_DATA_DIR" ;;
  scratch-start) touch "$PGFORT_DATA_DIR/postmaster.pid" "$PGFORT_SCRATCH_DIR/.s.PGSQL.5432" ;;
  scratch-stop) rm -f "$PGFORT_DATA_DIR/postmaster.pid" ;;
  restore-*) cat > /dev/null ;;
esac
echo 'PGFORT-RESULT {"ok":true}' >&2`,
    );
    script("pg_amcheck", `[ -f "${control}/corrupt" ] && { echo 'heap table "app.public.t", block 0, offset 1:'; exit 2; }; exit 0`);
    script("psql", `echo "{\\"public.t\\": $(cat "${control}/rows" 2>/dev/null || echo 3)}"`);
    tools.onPath();
  });
  afterEach(function () {
    tools.restore();
    rmSync(root, { recursive: true, force: true });
  });

  function run(signal?: AbortSignal) {
    return verifyInJob({ loaded, target, directory: DIRECTORY, manifest, scratchDir: scratch, jobCommand: path.join(bin, "pgfort-job"), ...(signal ? { signal } : {}) });
  }

  function verdictFiles(): string[] {
    return readdirSync(path.join(root, "target", DIRECTORY)).filter((name) => name.startsWith("verify-"));
  }

  function calls(): string[] {
    return readFileSync(path.join(root, "calls"), "utf8").trim().split("\n");
  }

  it("passes: checksums, a new cluster started, globals and the database restored, pg_amcheck, row counts; the server stopped and its directory removed", async function () {
    const { verdict, location } = await run();
    assert.equal(verdict.status, "passed");
    assert.deepEqual(verdict.checks.map((check) => check.name), ["sha256 globals.sql", "sha256 app.pgcustom", "server starts", "pg_amcheck", "row counts app"]);
    assert.deepEqual(calls(), ["scratch-init ", "scratch-start ", "restore-globals ", "restore-database ", "scratch-stop fast"]);
    const [file] = verdictFiles();
    assert.ok(file && location.endsWith(file));
    assert.equal(VerdictSchema.parse(JSON.parse(readFileSync(path.join(root, "target", DIRECTORY, file), "utf8"))).status, "passed");
    assert.deepEqual(readdirSync(scratch), []);
  });

  it("fails the verdict on a pg_amcheck finding, on row counts that differ, and on a restore the tool refused", async function () {
    writeFileSync(path.join(control, "corrupt"), "");
    writeFileSync(path.join(control, "rows"), "2");
    const { verdict } = await run();
    assert.equal(verdict.status, "failed");
    assert.match(verdict.checks.find((check) => check.name === "pg_amcheck")?.detail ?? "", /^corruption in heap table app\.public\.t/);
    assert.equal(verdict.checks.find((check) => check.name === "row counts app")?.detail, "public.t: 3 in the backup, 2 restored");

    writeFileSync(path.join(control, "restore-database"), "fail");
    const refused = await run();
    assert.equal(refused.verdict.status, "failed");
    assert.deepEqual(refused.verdict.checks.map((check) => [check.name, check.ok]), [
      ["sha256 globals.sql", true],
      ["sha256 app.pgcustom", true],
      ["server starts", true],
      ["restoring app.pgcustom", false],
    ]);
    assert.match(refused.verdict.checks[3]?.detail ?? "", /psql: ERROR: {2}relation exists/);
    assert.equal(verdictFiles().length, 2);
    assert.deepEqual(readdirSync(scratch), []);
  });

  it("writes no verdict when a step is killed (exit 137) or a new cluster does not start: a DrillError", async function () {
    writeFileSync(path.join(control, "restore-globals"), "killed");
    await assert.rejects(run(), (error: unknown) => error instanceof DrillError && /stopped before a verdict: restoring globals\.sql failed \(exit 137\)/.test(error.message));
    rmSync(path.join(control, "restore-globals"));
    writeFileSync(path.join(control, "scratch-start"), "fail");
    await assert.rejects(run(), DrillError);
    assert.deepEqual(verdictFiles(), []);
    assert.deepEqual(readdirSync(scratch), []);
  });

  it("aborted mid-drill: rejects with the signal's reason, stops the server immediately, removes its directory, writes nothing", async function () {
    writeFileSync(path.join(control, "scratch-start"), "hang");
    const controller = new AbortController();
    const drill = run(controller.signal);
    while (!existsSync(path.join(root, "calls")) || !readFileSync(path.join(root, "calls"), "utf8").includes("scratch-start")) await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new Error("interrupted by SIGTERM");
    controller.abort(reason);
    await assert.rejects(drill, (error) => error === reason);
    assert.deepEqual(calls().slice(-1), ["scratch-stop immediate"]);
    assert.deepEqual(verdictFiles(), []);
    assert.deepEqual(readdirSync(scratch), []);
  });

  it("says which scratch directory cannot be used (none mounted, not writable): a DrillError", async function () {
    const missing = path.join(root, "no-such-volume");
    await assert.rejects(
      verifyInJob({ loaded, target, directory: DIRECTORY, manifest, scratchDir: missing, jobCommand: path.join(bin, "pgfort-job") }),
      (error: unknown) => error instanceof DrillError && error.message.includes(`the scratch directory ${missing} cannot be used`) && /writable volume/.test(error.hint),
    );
    assert.deepEqual(verdictFiles(), []);
  });

  it("removes the scratch directories of dead drills before it starts, and keeps a live one's", async function () {
    const dead = path.join(scratch, "drill-deadbeef");
    const live = path.join(scratch, "drill-0000aaaa");
    mkdirSync(path.join(dead, "data"), { recursive: true });
    writeFileSync(path.join(dead, "owner"), "1 0"); // pid 1 exists, but started at another time
    mkdirSync(live);
    const stat = readFileSync("/proc/self/stat", "utf8");
    writeFileSync(path.join(live, "owner"), `${process.pid} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`);
    const messages: string[] = [];
    await verifyInJob({ loaded, target, directory: DIRECTORY, manifest, scratchDir: scratch, jobCommand: path.join(bin, "pgfort-job"), onInfo: (message) => messages.push(message) });
    assert.deepEqual(readdirSync(scratch), ["drill-0000aaaa"]);
    assert.match(messages[0] ?? "", /^removed 1 scratch directory of drills that were killed: .*drill-deadbeef$/);
  });
});
