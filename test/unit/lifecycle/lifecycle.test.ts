import assert from "node:assert/strict";
import { NOT_YET, done, pollUntil } from "../../../src/lifecycle/poll";
import { Releasers, withReleasers } from "../../../src/lifecycle/releasers";
import { ContainerError, InterruptedError } from "../../../src/errors";

describe("releasers", function () {
  it("run in reverse order, every one, and keep the first error", async function () {
    const order: string[] = [];
    const releasers = new Releasers();
    releasers.add(() => void order.push("first added"));
    releasers.add(() => {
      order.push("fails early");
      throw new Error("second");
    });
    releasers.add(() => {
      order.push("last added");
      throw new Error("first");
    });
    await assert.rejects(releasers.release(), /^Error: first$/);
    assert.deepEqual(order, ["last added", "fails early", "first added"]);
    await releasers.release(); // released once: nothing runs again
    assert.equal(order.length, 3);
  });

  it("keep the work's error over a release's", async function () {
    let released = false;
    await assert.rejects(
      withReleasers(async (releasers) => {
        releasers.add(() => {
          released = true;
          throw new Error("release failed");
        });
        throw new Error("work failed");
      }),
      /work failed/,
    );
    assert.equal(released, true);
    assert.equal(await withReleasers(async () => 5), 5);
  });
});

describe("pollUntil", function () {
  it("returns the probe's value once done", async function () {
    let calls = 0;
    const value = await pollUntil({ timeoutMs: 1000, intervalMs: 1 }, async () => (++calls < 3 ? NOT_YET : done("ready")), () => new Error("late"));
    assert.equal(value, "ready");
    assert.equal(calls, 3);
  });

  it("throws the caller's error after the timeout, and a probe's error at once", async function () {
    await assert.rejects(pollUntil({ timeoutMs: 30, intervalMs: 5 }, async () => NOT_YET, () => new ContainerError("never healthy", "look")), ContainerError);
    let calls = 0;
    await assert.rejects(
      pollUntil({ timeoutMs: 1000, intervalMs: 1 }, async () => {
        calls += 1;
        throw new Error("exited");
      }, () => new Error("late")),
      /exited/,
    );
    assert.equal(calls, 1);
  });

  it("stops mid-interval on abort, with the signal's reason", async function () {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 20);
    await assert.rejects(pollUntil({ timeoutMs: 60_000, intervalMs: 10_000, signal: controller.signal }, async () => NOT_YET, () => new Error("late")), InterruptedError);
    assert.ok(Date.now() - started < 2000);
    assert.equal(new InterruptedError("SIGINT").exitCode, 130);
    assert.equal(new InterruptedError("SIGTERM").exitCode, 143);
  });
});
