import assert from "node:assert/strict";
import { WalArchiveError } from "../../../src/errors";
import { filterBuffer } from "../../../src/wal/program-stage";
import { parseRecoveryLog } from "../../../src/wal/recovery-target";

describe("a program as a WAL stage", function () {
  it("filters a whole buffer through a real program, and turns a failure into the caller's error", async function () {
    const input = Buffer.alloc(1024 * 1024, 3);
    const compressed = await filterBuffer(["zstd", "-q", "-c", "-3"], input, () => new WalArchiveError("no", "no"));
    assert.ok(compressed.length < 1000);
    assert.deepEqual(await filterBuffer(["zstd", "-q", "-dc"], compressed, () => new WalArchiveError("no", "no")), input);
    await assert.rejects(
      filterBuffer(["zstd", "-q", "-dc"], Buffer.from("not zstd"), (stderr, code) => new WalArchiveError(`zstd exit ${code ?? "?"}: ${stderr}`, "hint")),
      (error) => error instanceof WalArchiveError && /^zstd exit 1: .+/.test(error.message),
    );
  });

  it("reads a restore point's stop line too", function () {
    const log = '2026-12-02 09:07:40 UTC [60] LOG:  recovery stopping at restore point "after-two", time 2026-12-02 09:07:29.42+00';
    assert.equal(parseRecoveryLog(log).stopLine, 'recovery stopping at restore point "after-two", time 2026-12-02 09:07:29.42+00');
  });
});
