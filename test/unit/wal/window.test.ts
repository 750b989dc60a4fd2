import assert from "node:assert/strict";
import { archiveKey } from "../../../src/wal/names";
import { archivedObjects, recoverableWindow, type WindowBackup } from "../../../src/wal/window";
import { parseRecoveryFlags, parseRecoveryLog, recoverySettings, walNeeded } from "../../../src/wal/recovery-target";
import { ConfigError } from "../../../src/errors";

const SHA = "cd".repeat(32);
const backup = (id: string, startLsn: string, finishedAt: string): WindowBackup => ({ id, finishedAt, wal: { startLsn, endLsn: startLsn.replace(/0{6}$/, "000100"), timeline: 1 } });

function archive(...names: string[]) {
  return archivedObjects(
    "app",
    names.map((name, index) => ({ key: archiveKey("app", name, SHA, "zstd"), bytes: 10, modifiedAt: new Date(Date.UTC(2026, 11, 2, 7, index)) })),
  );
}

describe("recoverable window", function () {
  it("runs from the oldest physical backup's end to the newest WAL file with no gap", function () {
    const window = recoverableWindow([backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z")], archive("000000010000000000000002", "000000010000000000000003", "000000010000000000000004"));
    assert.deepEqual(window.from, { time: "2026-12-02T06:59:00.000Z", lsn: "0/2000028", backupId: "b1" });
    assert.deepEqual(window.to, { time: "2026-12-02T07:02:00.000Z", segment: "000000010000000000000004" });
    assert.deepEqual(window.gaps, []);
  });

  it("a gap is reported and ends the window, until a base backup after it starts a new chain", function () {
    const files = archive("000000010000000000000002", "000000010000000000000003", "000000010000000000000006", "000000010000000000000007");
    const broken = recoverableWindow([backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z")], files);
    assert.deepEqual(broken.gaps, [{ from: "000000010000000000000004", to: "000000010000000000000005", segments: 2 }]);
    assert.equal(broken.to?.segment, "000000010000000000000003");
    const mended = recoverableWindow([backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z"), backup("b2", "0/6000028", "2026-12-02T07:02:30.000Z")], files);
    assert.equal(mended.to?.segment, "000000010000000000000007");
    assert.equal(mended.gaps.length, 1);
    // A base backup that starts a few files after the gap (after an upgrade: the new major's WAL
    // begins on a new timeline, its first backup a file or two later) starts a chain there.
    const later = recoverableWindow([backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z"), backup("b2", "0/7000028", "2026-12-02T07:03:30.000Z")], archive("000000010000000000000002", "000000020000000000000006", "000000020000000000000007", "000000020000000000000008"));
    assert.deepEqual(later.gaps, [{ from: "000000010000000000000003", to: "000000010000000000000005", segments: 3 }]);
    assert.equal(later.to?.segment, "000000020000000000000008");
    const before = recoverableWindow([backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z")], archive("000000010000000000000002", "000000020000000000000006", "000000020000000000000007"));
    assert.equal(before.to?.segment, "000000010000000000000002", "no backup after the gap: the window ends before it");
  });

  it("follows a promotion: the new timeline continues the numbers", function () {
    const window = recoverableWindow(
      [backup("b1", "0/2000028", "2026-12-02T06:59:00.000Z")],
      archive("000000010000000000000002", "000000010000000000000003.partial", "00000002.history", "000000020000000000000003", "000000020000000000000004"),
    );
    assert.deepEqual(window.gaps, []);
    assert.equal(window.to?.segment, "000000020000000000000004");
  });

  it("without a physical backup there is no window", function () {
    assert.equal(recoverableWindow([], archive("000000010000000000000002")).from, null);
  });
});

describe("recovery targets", function () {
  it("one flag at most; times need a zone; LSNs and names are checked", function () {
    assert.deepEqual(parseRecoveryFlags({ to: "2026-12-02T08:30:00+01:00" }), { kind: "time", time: "2026-12-02T07:30:00.000Z" });
    assert.deepEqual(parseRecoveryFlags({ toLsn: "0/3000148" }), { kind: "lsn", lsn: "0/3000148" });
    assert.deepEqual(parseRecoveryFlags({ latest: true }), { kind: "latest" });
    assert.equal(parseRecoveryFlags({}), undefined);
    assert.throws(() => parseRecoveryFlags({ to: "2026-12-02 08:30" }), (error) => error instanceof ConfigError && /with a zone/.test(error.message));
    assert.throws(() => parseRecoveryFlags({ toLsn: "3000148" }), ConfigError);
    assert.throws(() => parseRecoveryFlags({ latest: true, toName: "x" }), /exclude each other/);
  });

  it("settings stop at the target inclusively and promote", function () {
    assert.deepEqual(recoverySettings({ kind: "time", time: "2026-12-02T07:30:00.000Z" }, "/data/wal"), {
      restore_command: "cp '/data/wal/%f' '%p'",
      recovery_target_timeline: "latest",
      recovery_target_action: "promote",
      hot_standby: "off",
      recovery_target_time: "2026-12-02 07:30:00.000+00",
      recovery_target_inclusive: "on",
    });
    assert.equal(recoverySettings({ kind: "latest" }, "/w").recovery_target_inclusive, undefined);
  });

  it("fetches history files and the segments from the backup's start, up to an LSN target", function () {
    const files = archive("000000010000000000000001", "000000010000000000000002", "000000010000000000000003", "000000010000000000000004", "00000002.history", "000000010000000000000002.00000028.backup");
    assert.deepEqual(
      walNeeded(files, { lsn: "0/2000028", timeline: 1 }, { kind: "lsn", lsn: "0/2FFFFFF" }).map((file) => file.name),
      ["000000010000000000000002", "000000010000000000000003", "00000002.history"],
    );
    assert.equal(walNeeded(files, { lsn: "0/2000028", timeline: 1 }, { kind: "latest" }).length, 4);
  });

  it("reads what the server's log says it reached", function () {
    const log = [
      "2026-12-02 07:31:00 UTC [55] LOG:  recovery stopping before commit of transaction 742, time 2026-12-02 07:30:00.5+00",
      "2026-12-02 07:31:00 UTC [55] LOG:  redo done at 0/3000148 system usage: CPU: user: 0.00 s",
      "2026-12-02 07:31:00 UTC [55] LOG:  last completed transaction was at log time 2026-12-02 07:29:59.9+00",
    ].join("\n");
    assert.deepEqual(parseRecoveryLog(log), {
      stopLine: "recovery stopping before commit of transaction 742, time 2026-12-02 07:30:00.5+00",
      lastTransactionAt: "2026-12-02 07:29:59.9+00",
      redoDoneAt: "0/3000148",
      endedBeforeTarget: false,
    });
    assert.equal(parseRecoveryLog("FATAL:  recovery ended before configured recovery target was reached").endedBeforeTarget, true);
  });
});
