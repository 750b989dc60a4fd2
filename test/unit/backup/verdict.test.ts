import assert from "node:assert/strict";
import { amcheckVerdict, corruptRelations } from "../../../src/backup/amcheck";
import { isVerdictFile, verdictFileName } from "../../../src/backup/layout";
import { currentVerdict, StoredVerdictSchema, type VerdictReading } from "../../../src/backup/verdict";
import { BackupError } from "../../../src/errors";
import { parseJsonText } from "../../../src/state/json-file";

const TOOL = { name: "pgfort", version: "0.1.0" };

function reading(file: string, value: unknown): VerdictReading {
  return { file, read: parseJsonText(JSON.stringify(value), StoredVerdictSchema, file) };
}

function verdict(status: "passed" | "failed", verifiedAt: string): unknown {
  return { formatVersion: 2, id: "x", status, verifiedAt, checks: [], tool: TOOL };
}

describe("verdicts", function () {
  it("file names sort in time order and are recognised; others are not verdicts", function () {
    const early = verdictFileName(new Date("2026-12-01T03:00:00.001Z"), "aaaaaa");
    const late = verdictFileName(new Date("2026-12-01T03:00:00.010Z"), "000000");
    assert.equal(early, "verify-20261201T030000001Z-aaaaaa.json");
    assert.ok(early < late);
    assert.ok(isVerdictFile(early) && isVerdictFile("verify.json"));
    assert.ok(!isVerdictFile(`${early}.partial-1234abcd`) && !isVerdictFile("manifest.json") && !isVerdictFile("verify-x.json"));
  });

  it("the newest verdict counts", function () {
    const result = currentVerdict([
      reading("verify-20261201T030000000Z-aaaaaa.json", verdict("failed", "2026-12-01T03:00:00.000Z")),
      reading("verify-20261202T030000000Z-bbbbbb.json", verdict("passed", "2026-12-02T03:00:00.000Z")),
    ]);
    assert.deepEqual(result, { verified: "passed", verifiedAt: "2026-12-02T03:00:00.000Z", problem: null });
    assert.equal(currentVerdict([reading("a", verdict("passed", "2026-12-01T00:00:00Z")), reading("b", verdict("failed", "2026-12-03T00:00:00Z"))]).verified, "failed");
  });

  it("reads the old verify.json shape (ok: boolean) beside new ones", function () {
    const legacy = { id: "x", ok: true, verifiedAt: "2026-11-01T00:00:00.000Z", checks: [{ name: "restore", ok: true, detail: "" }], tool: TOOL };
    assert.equal(currentVerdict([reading("verify.json", legacy)]).verified, "passed");
    assert.equal(currentVerdict([reading("verify.json", { ...legacy, ok: false })]).verified, "failed");
    const newer = reading("verify-20261201T000000000Z-aaaaaa.json", verdict("failed", "2026-12-01T00:00:00.000Z"));
    assert.equal(currentVerdict([reading("verify.json", legacy), newer]).verified, "failed");
  });

  it("an error is never a verdict, and an unreadable verdict file makes the verdict unknown, never passed", function () {
    const error = reading("verify-20261203T000000000Z-cccccc.json", { ...(verdict("passed", "2026-12-03T00:00:00.000Z") as object), status: "error" });
    assert.equal(error.read.ok, false);
    const passed = reading("verify-20261201T000000000Z-aaaaaa.json", verdict("passed", "2026-12-01T00:00:00.000Z"));
    const corrupt: VerdictReading = { file: "verify-20261202T000000000Z-bbbbbb.json", read: parseJsonText('{"status": "fai', StoredVerdictSchema, "verify-20261202T000000000Z-bbbbbb.json") };
    const result = currentVerdict([passed, corrupt]);
    assert.equal(result.verified, null);
    assert.match(result.problem ?? "", /^verdict unknown: verify-20261202T000000000Z-bbbbbb\.json is not JSON/);
    assert.deepEqual(currentVerdict([]), { verified: null, verifiedAt: null, problem: null });
  });
});

describe("pg_amcheck verdict", function () {
  const corruption = [
    'btree index "app.public.victim_pkey":',
    '    ERROR:  item order invariant violated for index "victim_pkey"',
    'heap table "app.public.victim", block 1, offset 3:',
    "    line pointer to page offset 9000 exceeds maximum page offset 8192",
  ].join("\n");

  it("names the relations it found corrupt", function () {
    assert.deepEqual(corruptRelations(corruption), ["btree index app.public.victim_pkey", "heap table app.public.victim"]);
    const check = amcheckVerdict(2, corruption, "");
    assert.equal(check.ok, false);
    assert.match(check.detail, /^corruption in btree index app\.public\.victim_pkey, heap table app\.public\.victim: /);
  });

  it("passes on exit 0, and is an error (not a verdict) when pg_amcheck could not run", function () {
    assert.equal(amcheckVerdict(0, "", "").ok, true);
    assert.throws(() => amcheckVerdict(1, "", 'pg_amcheck: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed'), BackupError);
  });
});
