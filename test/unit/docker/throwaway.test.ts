// The throwaway-container helper against a plain fake engine: the attach stream is a PassThrough
// carrying Docker's multiplexed frames, and every engine call is recorded.
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { RESULT_PREFIX, runThrowaway, type ThrowawayEngine } from "../../../src/docker/throwaway";
import { InterruptedError } from "../../../src/errors";

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

class FakeEngine implements ThrowawayEngine {
  calls: string[] = [];
  labels: Record<string, string> = {};
  readonly attached = new PassThrough();
  private exited!: (code: number) => void;
  private readonly exit = new Promise<number>((resolve) => (this.exited = resolve));

  async createContainer(options: { name?: string; Labels?: Record<string, string> }): Promise<void> {
    this.calls.push(`create ${options.name ?? ""}`);
    this.labels = options.Labels ?? {};
  }
  async attach(): Promise<NodeJS.ReadWriteStream> {
    this.calls.push("attach");
    return this.attached;
  }
  async startContainer(): Promise<void> {
    this.calls.push("start");
  }
  async waitContainer(): Promise<number> {
    this.calls.push("wait");
    return this.exit;
  }
  async killContainer(): Promise<void> {
    this.calls.push("kill");
    this.exited(137);
    this.attached.destroy();
  }
  async removeContainer(): Promise<void> {
    this.calls.push("remove");
  }
  /** The tool writes, reports, and exits. */
  finish(code: number, stdout: string, result?: string): void {
    this.attached.write(frame(1, stdout));
    this.attached.write(frame(2, "tool noise\n"));
    if (result) this.attached.write(frame(2, `${RESULT_PREFIX}${result}\n`));
    this.attached.end();
    this.exited(code);
  }
}

function collect(into: Buffer[]): Writable {
  return new Writable({ write: (chunk: Buffer, _encoding, done) => (into.push(chunk), done()) });
}

describe("runThrowaway", function () {
  it("streams stdout, returns the result line apart from stderr, labels the owner and removes the container", async function () {
    const engine = new FakeEngine();
    const out: Buffer[] = [];
    const running = runThrowaway(engine, { create: { name: "app-backup-1", Labels: { "pgfort.role": "backup" } }, stdout: [collect(out)] });
    await sleep(10);
    engine.finish(0, "DUMP", '{"rawBytes":4}');
    const result = await running;
    assert.equal(Buffer.concat(out).toString(), "DUMP");
    assert.deepEqual(result.result, { rawBytes: 4 });
    assert.equal(result.exitCode, 0);
    assert.equal(result.stderr.toString(), "tool noise\n");
    assert.deepEqual(engine.calls, ["create app-backup-1", "attach", "start", "wait", "remove"]);
    assert.equal(engine.labels["pgfort.owner-pid"], String(process.pid));
    assert.equal(engine.labels["pgfort.role"], "backup");
  });

  it("on abort kills and removes the container, and rejects with the signal's reason", async function () {
    const engine = new FakeEngine();
    const controller = new AbortController();
    const running = runThrowaway(engine, { create: { name: "j" }, stdout: [collect([])], signal: controller.signal });
    await sleep(10);
    engine.attached.write(frame(1, "half of it"));
    controller.abort(new InterruptedError("SIGINT"));
    await assert.rejects(running, InterruptedError);
    assert.ok(engine.calls.includes("kill"), engine.calls.join(", "));
    assert.equal(engine.calls.at(-1), "remove");
  });

  it("never creates a container when already aborted", async function () {
    const engine = new FakeEngine();
    const controller = new AbortController();
    controller.abort(new InterruptedError("SIGTERM"));
    await assert.rejects(runThrowaway(engine, { create: { name: "j" }, signal: controller.signal }), InterruptedError);
    assert.deepEqual(engine.calls, []);
  });

  it("kills and removes the container when the consumer fails", async function () {
    const engine = new FakeEngine();
    const failing = new Writable({ write: (_chunk, _encoding, done) => done(new Error("disk full")) });
    const running = runThrowaway(engine, { create: { name: "j" }, stdout: [failing] });
    await sleep(10);
    engine.attached.write(frame(1, "bytes"));
    await assert.rejects(running, /disk full/);
    assert.deepEqual(engine.calls.slice(-2), ["kill", "remove"]);
  });

  it("hands the removal to deferRemoval when asked", async function () {
    const engine = new FakeEngine();
    const removals: Array<Promise<void>> = [];
    const running = runThrowaway(engine, { create: { name: "j" }, deferRemoval: (removal) => removals.push(removal) });
    await sleep(10);
    engine.finish(3, "", undefined);
    const result = await running;
    assert.equal(result.exitCode, 3);
    assert.equal(result.result, undefined);
    assert.equal(removals.length, 1);
    await removals[0];
  });

  it("a deferred removal that fails (the engine gone) is no unhandled rejection; the caller still sees it", async function () {
    const engine = new FakeEngine();
    engine.removeContainer = async () => {
      throw new Error("engine gone");
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const removals: Array<Promise<void>> = [];
      const running = runThrowaway(engine, { create: { name: "j" }, deferRemoval: (removal) => removals.push(removal) });
      await sleep(10);
      engine.finish(0, "", "{}");
      await running;
      await sleep(20); // past the turn in which Node reports unhandled rejections
      assert.deepEqual(unhandled, []);
      const [settled] = await Promise.allSettled(removals);
      assert.equal(settled?.status, "rejected");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
