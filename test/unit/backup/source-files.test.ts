import assert from "node:assert/strict";
import { firstBlockOf, isChecksummed, isExcluded, planBundles, unloggedLeftOut, walFilesBetween, type SourceEntry } from "../../../src/backup/source-files";
import { renderPgBackupManifest } from "../../../src/backup/pg-backup-manifest";
import { createHash } from "node:crypto";

function file(path: string, size: number): SourceEntry {
  return { path, type: "file", size, mode: 0o600, mtimeMs: 0 };
}

describe("what the parallel engine copies", function () {
  it("leaves out what pg_basebackup leaves out, keeps the rest", function () {
    for (const left of ["postmaster.pid", "postmaster.opts", "backup_label", "pg_wal/000000010000000000000001", "pg_stat_tmp/global.stat", "pg_replslot/s/state", "base/5/t3_16384", "base/5/pgsql_tmp/x", "global/pg_internal.init", "standby.signal"]) {
      assert.equal(isExcluded(left), true, left);
    }
    for (const kept of ["PG_VERSION", "base/5/16384", "base/5/16384.1", "global/pg_control", "pg_xact/0000", "postgresql.auto.conf", "pg_wal", "pg_stat_tmp", "pg_logical/replorigin_checkpoint"]) {
      assert.equal(isExcluded(kept), false, kept);
    }
  });

  it("checks pages only in relation files, and numbers blocks across segments", function () {
    assert.equal(isChecksummed("base/5/16384"), true);
    assert.equal(isChecksummed("base/5/16384_fsm"), true);
    assert.equal(isChecksummed("base/5/16384.2"), true);
    assert.equal(isChecksummed("global/1260"), true);
    for (const not of ["base/5/PG_VERSION", "base/5/pg_filenode.map", "global/pg_control", "pg_xact/0000", "base/5/16384_garbage"]) assert.equal(isChecksummed(not), false, not);
    assert.equal(firstBlockOf("base/5/16384", 131072), 0);
    assert.equal(firstBlockOf("base/5/16384.2", 131072), 262144);
    assert.equal(firstBlockOf("base/5/16384_vm.1", 131072), 131072);
  });

  it("copies only the init fork of an unlogged relation", function () {
    const left = unloggedLeftOut(["base/5/100", "base/5/100_init", "base/5/100_fsm", "base/5/100.1", "base/5/200", "base/6/100"]);
    assert.deepEqual([...left].sort(), ["base/5/100", "base/5/100.1", "base/5/100_fsm"]);
  });

  it("balances bundles by size, largest file first, at least one per worker", function () {
    const files = [file("a", 100), file("b", 60), file("c", 50), file("d", 30), file("e", 20), file("f", 10)];
    const bundles = planBundles(files, 2, 1000);
    assert.equal(bundles.length, 2);
    assert.deepEqual(bundles.map((bundle) => bundle.bytes), [140, 130]);
    assert.deepEqual(bundles.flatMap((bundle) => bundle.files.map((entry) => entry.path)).sort(), ["a", "b", "c", "d", "e", "f"]);
    // Size-bounded: more bundles than workers when the data is larger than workers × bound.
    assert.equal(planBundles(files, 2, 60).length, 5);
    assert.equal(planBundles([file("only", 5)], 4, 1000).length, 1);
    assert.deepEqual(planBundles([], 2, 1000), []);
  });

  it("names the WAL files from the start's segment to the one before the stop", function () {
    const mib16 = 16 * 1024 * 1024;
    assert.deepEqual(walFilesBetween(0x17000028, 0x18000100, 1, mib16), ["000000010000000000000017", "000000010000000000000018"]);
    // A stop exactly at a segment boundary does not need the next segment.
    assert.deepEqual(walFilesBetween(0x17000028, 0x18000000, 1, mib16), ["000000010000000000000017"]);
    assert.deepEqual(walFilesBetween(0x1ff000028, 0x200000100, 2, mib16), ["0000000200000001000000FF", "000000020000000200000000"]);
  });

  it("writes a backup_manifest whose checksum covers everything before its last line", function () {
    const text = renderPgBackupManifest([{ path: "base/5/1", size: 8192, mtimeMs: Date.UTC(2026, 0, 2, 3, 4, 5) }], { timeline: 1, startLsn: "0/17000028", endLsn: "0/18000100" });
    const lines = text.split("\n");
    assert.equal(lines.at(-1), "");
    const last = lines.at(-2) ?? "";
    const covered = text.slice(0, text.length - last.length - 1);
    assert.equal(last, `"Manifest-Checksum": "${createHash("sha256").update(covered).digest("hex")}"}`);
    const parsed = JSON.parse(text) as { Files: Array<Record<string, unknown>>; "WAL-Ranges": unknown[] };
    assert.deepEqual(parsed.Files, [{ Path: "base/5/1", Size: 8192, "Last-Modified": "2026-01-02 03:04:05 GMT" }]);
    assert.deepEqual(parsed["WAL-Ranges"], [{ Timeline: 1, "Start-LSN": "0/17000028", "End-LSN": "0/18000100" }]);
  });
});
