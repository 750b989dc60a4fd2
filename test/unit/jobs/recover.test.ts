// recoverToTarget with a fake pgfort-job and psql (bash scripts) and a real file target: a time
// target past the archive's last transaction makes a second run replay all of it. The first run's
// postmaster writes its last log lines after its startup process has exited, as PostgreSQL does.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeTools } from "./fake-tools";
import type { BackupManifest } from "../../../src/backup/manifest";
import { FileTarget } from "../../../src/backup/targets/file";
import { recoverToTarget } from "../../../src/jobs/recover";
import { archiveKey } from "../../../src/wal/names";

describe("recoverToTarget", function () {
  let root: string;
  let bin: string;
  let tools: FakeTools;
  const script = (name: string, body: string) => tools.script(name, body);

  beforeEach(function () {
    root = mkdtempSync(path.join(os.tmpdir(), "recover-"));
    bin = path.join(root, "bin");
    for (const directory of [bin, path.join(root, "scratch"), path.join(root, "data")]) mkdirSync(directory);
    tools = new FakeTools(bin);
    const segment = "one WAL segment";
    const key = archiveKey("c1", "000000010000000000000003", createHash("sha256").update(segment).digest("hex"), "none");
    mkdirSync(path.dirname(path.join(root, "target", key)), { recursive: true });
    writeFileSync(path.join(root, "target", key), segment);
    // Run 1 ends before the time target: the startup process exits, the postmaster's "shut down"
    // and the removal of postmaster.pid follow a second later. Run 2 promotes after three.
    script(
      "pgfort-job",
      `verb="$1"; log="\${PGFORT_SCRATCH_DIR:-}/server.log"; echo "$verb" >> "${root}/calls"
case "$verb" in
  scratch-start)
    touch "$PGFORT_DATA_DIR/postmaster.pid"
    if [ "$(grep -c scratch-start "${root}/calls")" = 1 ]; then
      printf '%s\\n' "LOG:  starting point-in-time recovery" "FATAL:  recovery ended before configured recovery target was reached" "LOG:  startup process (PID 9) exited with exit code 1" >> "$log"
      ( sleep 1; echo "LOG:  database system is shut down" >> "$log"; rm -f "$PGFORT_DATA_DIR/postmaster.pid" ) > /dev/null 2>&1 &
    else
      echo "LOG:  starting archive recovery" >> "$log"
      ( sleep 3; printf '%s\\n' "LOG:  redo done at 0/3000148" "LOG:  selected new timeline ID: 2" >> "$log"; touch "${root}/promoted" ) > /dev/null 2>&1 &
    fi ;;
  scratch-stop) rm -f "$PGFORT_DATA_DIR/postmaster.pid" ;;
esac
echo 'PGFORT-RESULT {"ok":true}' >&2`,
    );
    script("psql", `[ -f "${root}/promoted" ] && { echo f; exit 0; }; echo "psql: FATAL:  the database system is not accepting connections" >&2; exit 2`);
    tools.onPath();
  });
  afterEach(function () {
    tools.restore();
    rmSync(root, { recursive: true, force: true });
  });

  const manifest: BackupManifest = {
    formatVersion: 1,
    id: "20261201T000000Z-abcdef",
    cluster: "c1",
    kind: "physical",
    job: null,
    source: "primary",
    files: [],
    pgVersion: "15",
    databases: [],
    startedAt: "2026-12-01T00:00:00.000Z",
    finishedAt: "2026-12-01T00:00:01.000Z",
    tool: { name: "pgfort", version: "0.0.0" },
    compression: { method: "none", level: null },
    wal: { startLsn: "0/3000028", endLsn: "0/3000100", timeline: 1 },
  };

  it("replays all of the archive once the first run's postmaster has exited, and starts on the new timeline", async function () {
    this.timeout(20_000);
    const outcome = await recoverToTarget({
      target: new FileTarget(path.join(root, "target")),
      manifest,
      dataDir: path.join(root, "data"),
      recovery: { kind: "time", time: "2026-12-01T00:00:05.000Z" },
      scratchDir: path.join(root, "scratch"),
      jobCommand: path.join(bin, "pgfort-job"),
      identityFile: path.join(root, "no-identity"),
    });
    assert.equal(outcome.replayedAll, true);
    assert.equal(outcome.walFiles, 1);
    assert.equal(outcome.timeline, 2);
    assert.equal(outcome.reached.redoDoneAt, "0/3000148");
    assert.deepEqual(readFileSync(path.join(root, "calls"), "utf8").trim().split("\n"), ["scratch-start", "scratch-start", "scratch-stop"]);
    assert.equal(existsSync(path.join(root, "data", "pgfort-recovery-wal")), false, "the fetched WAL is removed");
  });
});
