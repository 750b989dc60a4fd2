import assert from "node:assert/strict";
import type { BackupEntry } from "../../../src/backup/catalog";
import { chainOf, chooseParent, completeById, markBrokenChains } from "../../../src/backup/incremental";
import type { BackupManifest } from "../../../src/backup/manifest";

function entry(id: string, parent: string | null | undefined, options: { startedAt?: string; timeline?: number; keptManifest?: boolean; status?: "complete" | "incomplete" } = {}): BackupEntry {
  const manifest: BackupManifest = {
    formatVersion: 1,
    id,
    cluster: "c1",
    kind: "physical",
    job: null,
    source: "c1-primary",
    files: [
      { name: "base.tar.zst", content: "base", bytes: 1, rawBytes: null, sha256: "a".repeat(64), compression: "zstd" },
      ...(options.keptManifest === false ? [] : [{ name: "backup_manifest.zst", content: "pg-manifest" as const, bytes: 1, rawBytes: null, sha256: "b".repeat(64), compression: "zstd" as const }]),
    ],
    pgVersion: "17.12",
    databases: [],
    startedAt: options.startedAt ?? "2026-12-01T00:00:00.000Z",
    finishedAt: "2026-12-01T00:00:01.000Z",
    tool: { name: "pgfort", version: "0.1.0" },
    compression: { method: "zstd", level: 3 },
    wal: { startLsn: "0/2000028", endLsn: "0/2000100", timeline: options.timeline ?? 1 },
    ...(parent !== undefined ? { parent } : {}),
  };
  const status = options.status ?? "complete";
  return { id, kind: "physical", status, reason: null, createdAt: manifest.startedAt, location: id, bytes: 2, job: null, verified: null, verifiedAt: null, keys: [], manifest: status === "complete" ? manifest : null, lastWrittenAt: manifest.startedAt };
}

describe("incremental chains", function () {
  it("a chain is full first, itself last; a missing link is named", function () {
    const entries = [entry("i2", "i1"), entry("i1", "f"), entry("f", null)];
    const chain = chainOf(entries[0]?.manifest as BackupManifest, completeById(entries));
    assert.deepEqual(chain.ok && chain.backups.map((backup) => backup.id), ["f", "i1", "i2"]);
    const broken = chainOf(entries[0]?.manifest as BackupManifest, completeById([entries[0] as BackupEntry, entries[2] as BackupEntry]));
    assert.deepEqual(broken, { ok: false, why: "its parent i1 (of i2) is missing or incomplete" });
  });

  it("the next incremental builds on the newest by start time, unless the chain is full, the timeline moved or no manifest was kept", function () {
    const entries = [entry("b", "a", { startedAt: "2026-12-01T00:00:00.100Z" }), entry("a", null), entry("c", "b", { startedAt: "2026-12-01T00:00:00.200Z" })];
    const choice = chooseParent(entries, { fullEvery: 4, timeline: 1 });
    assert.equal(choice.parent?.id, "c");
    assert.equal(choice.parent && "chainLength" in choice ? choice.chainLength : 0, 4);
    assert.match((chooseParent(entries, { fullEvery: 3, timeline: 1 }) as { why: string }).why, /the chain of a holds 3 backup\(s\) \(fullEvery 3\)/);
    assert.match((chooseParent(entries, { fullEvery: 7, timeline: 2 }) as { why: string }).why, /on timeline 1, the server on 2/);
    assert.match((chooseParent([entry("old", undefined, { keptManifest: false })], { fullEvery: 7, timeline: 1 }) as { why: string }).why, /kept no backup_manifest/);
    assert.match((chooseParent([], { fullEvery: 7, timeline: 1 }) as { why: string }).why, /no complete physical backup/);
    // The server keeps WAL summaries wal_summary_keep_time (default 10 days): an older parent cannot be built on.
    const now = new Date("2026-12-01T00:00:00.200Z");
    assert.equal(chooseParent(entries, { fullEvery: 7, timeline: 1, summaryKeepMinutes: 14_400, now: new Date("2026-12-10T00:00:00Z") }).parent?.id, "c");
    const stale = chooseParent(entries, { fullEvery: 7, timeline: 1, summaryKeepMinutes: 14_400, now: new Date("2026-12-11T00:00:00Z") }) as { why: string };
    assert.match(stale.why, /started 10 days ago: the WAL summaries since then are kept only 10 days \(wal_summary_keep_time\)/);
    assert.equal(chooseParent(entries, { fullEvery: 7, timeline: 1, summaryKeepMinutes: 0, now: new Date("2027-06-01T00:00:00Z") }).parent?.id, "c", "0: summaries are never removed");
    assert.equal(chooseParent(entries, { fullEvery: 7, timeline: 1, summaryKeepMinutes: 14_400, now }).parent?.id, "c");
  });

  it("an incremental whose parent is gone or incomplete is incomplete too, and so is what builds on it", function () {
    const entries = markBrokenChains([entry("i2", "i1"), entry("i1", "f"), entry("f", null, { status: "incomplete" }), entry("g", null)]);
    assert.deepEqual(
      entries.map((one) => [one.id, one.status]),
      [["i2", "incomplete"], ["i1", "incomplete"], ["f", "incomplete"], ["g", "complete"]],
    );
    assert.match(entries[1]?.reason ?? "", /chain is broken: its parent f \(of i1\) is missing or incomplete/);
  });
});
