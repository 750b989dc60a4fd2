import assert from "node:assert/strict";
import { archiveKey, parseArchiveKey, parseWalFileName, segmentFileName, segmentOfLsn, segmentStartLsn } from "../../../src/wal/names";

const SHA = "ab".repeat(32);

describe("WAL names", function () {
  it("reads segments, partial segments, history and backup history files", function () {
    assert.deepEqual(parseWalFileName("0000000200000001000000FF"), { name: "0000000200000001000000FF", kind: "segment", timeline: 2, segment: 0x1ffn });
    assert.equal(parseWalFileName("000000010000000000000005.partial")?.kind, "partial");
    assert.deepEqual(parseWalFileName("00000003.history"), { name: "00000003.history", kind: "history", timeline: 3 });
    assert.equal(parseWalFileName("000000010000000000000002.00000028.backup")?.kind, "backup");
    for (const bad of ["00000001000000000000000", "000000010000000000000100", "x.history", "../000000010000000000000001", "000000010000000000000001.tmp"]) {
      assert.equal(parseWalFileName(bad), undefined, bad);
    }
  });

  it("segment arithmetic agrees with PostgreSQL's names (pg_walfile_name)", function () {
    // SELECT pg_walfile_name('1/FF000028') on timeline 1 is 0000000100000001000000FF.
    assert.equal(segmentFileName(1, segmentOfLsn("1/FF000028")), "0000000100000001000000FF");
    assert.equal(segmentStartLsn(0x1ffn), "1/FF000000");
    assert.equal(segmentFileName(2, 0x200n), "000000020000000200000000");
  });

  it("keys hold the name, the sha256 and the compression; other keys are not WAL", function () {
    const key = archiveKey("app", "000000010000000000000003", SHA, "zstd");
    assert.equal(key, `app/wal/000000010000000000000003.${SHA}.zst`);
    assert.deepEqual(parseArchiveKey("app", key), { name: "000000010000000000000003", kind: "segment", timeline: 1, segment: 3n, key, sha256: SHA, compression: "zstd", encrypted: false });
    const sealed = archiveKey("app", "000000010000000000000003", SHA, "lz4", true);
    assert.equal(sealed, `app/wal/000000010000000000000003.${SHA}.lz4.age`);
    assert.equal(parseArchiveKey("app", sealed)?.encrypted, true);
    assert.equal(parseArchiveKey("app", archiveKey("app", "00000002.history", SHA, "none"))?.compression, "none");
    assert.equal(parseArchiveKey("other", key), undefined);
    assert.equal(parseArchiveKey("app", `app/wal/gaps/000000010000000000000003.app-primary.json`), undefined);
    assert.equal(parseArchiveKey("app", `${key}.partial-host~1~2~ab`), undefined, "a write in progress");
  });
});
