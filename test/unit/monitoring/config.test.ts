import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/load";
import { ConfigError } from "../../../src/errors";

describe("config: monitoring", function () {
  it("has defaults for every alert threshold", function () {
    assert.deepEqual(parseConfig("").monitoring, {
      drillMaxAgeDays: 7,
      replicaLagSeconds: 300,
      slotRetainedBytes: 10 * 1024 ** 3,
      xidAgeWarning: 1_000_000_000,
    });
  });

  it("takes sizes like the rest of the file, and keeps the defaults of keys it omits", function () {
    const monitoring = parseConfig("monitoring: { slotRetainedBytes: 2g, drillMaxAgeDays: 1.5 }").monitoring;
    assert.equal(monitoring.slotRetainedBytes, 2 * 1024 ** 3);
    assert.equal(monitoring.drillMaxAgeDays, 1.5);
    assert.equal(monitoring.replicaLagSeconds, 300);
  });

  it("rejects unknown keys and impossible thresholds, naming the key", function () {
    for (const [yaml, pattern] of [
      ["monitoring: { lagSeconds: 10 }", /lagSeconds/],
      ["monitoring: { replicaLagSeconds: 0 }", /replicaLagSeconds/],
      ["monitoring: { xidAgeWarning: 3000000000 }", /xidAgeWarning/],
      ["monitoring: { slotRetainedBytes: lots }", /slotRetainedBytes/],
    ] as const) {
      assert.throws(() => parseConfig(yaml), (error: unknown) => error instanceof ConfigError && pattern.test(error.message), yaml);
    }
  });
});
