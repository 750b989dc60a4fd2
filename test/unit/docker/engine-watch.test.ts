import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { watchEngine } from "../../../src/docker/engine-watch";
import { DockerUnavailableError } from "../../../src/errors";
import type { EngineInfo } from "../../../src/docker/client";

const INFO: EngineInfo = { serverVersion: "27", cpus: 2, memoryBytes: 1, cgroupVersion: "2", warnings: [] };

describe("engine watch", function () {
  it("rejects after two failed pings in a row, not after one", async function () {
    const answers = [true, false, true, false, false];
    let calls = 0;
    const watch = watchEngine({ engineInfo: async () => ((answers[calls++] ?? false) ? INFO : Promise.reject(new Error("connect ENOENT"))) }, { intervalMs: 5 });
    await assert.rejects(watch.lost, (error: unknown) => error instanceof DockerUnavailableError && /stopped answering/.test(error.message));
    assert.equal(calls, 5);
    watch.stop();
  });

  it("never rejects while the engine answers, and stops pinging when stopped", async function () {
    let calls = 0;
    const watch = watchEngine({ engineInfo: async () => (calls++, INFO) }, { intervalMs: 5 });
    const outcome = await Promise.race([watch.lost.then(() => "lost", () => "lost"), sleep(100).then(() => "alive")]);
    assert.equal(outcome, "alive");
    watch.stop();
    const after = calls;
    await sleep(50);
    assert.ok(calls <= after + 1);
  });
});
