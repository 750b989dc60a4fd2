import assert from "node:assert/strict";
import { judgeLeftover, judgePartial, type JudgeContext } from "../../../src/lifecycle/reaper";
import { currentOwner, ownerLabels, ownerOf, ownerState, processStartTime, type Owner } from "../../../src/lifecycle/owner";
import type { ThrowawayObject } from "../../../src/docker/throwaway-objects";

const alive: Owner = { host: "h1", pid: 100, started: "5000" };
const dead: Owner = { host: "h1", pid: 101, started: "6000" };
const remote: Owner = { host: "h2", pid: 102, started: "7000" };

function context(overrides: Partial<JudgeContext> = {}): JudgeContext {
  return {
    ownerStateOf: (owner) => (owner.host !== "h1" ? "unknown" : owner.pid === alive.pid ? "alive" : "gone"),
    restoredNodes: new Set(),
    nodeOwners: new Map(),
    runningNodes: new Set(),
    ...overrides,
  };
}

function object(role: string, owner: Owner | undefined, overrides: Partial<ThrowawayObject> = {}): ThrowawayObject {
  return { kind: "container", name: `app-${role}-x`, role, node: `${role}-x`, labels: owner ? ownerLabels(owner) : {}, ...overrides };
}

describe("reaper", function () {
  it("removes throwaway objects of a gone owner, never a live owner's, never a primary", function () {
    assert.equal(judgeLeftover(object("backup", alive), context()), undefined);
    assert.deepEqual(judgeLeftover(object("backup", dead), context()), {
      kind: "container",
      name: "app-backup-x",
      role: "backup",
      owner: dead,
      reason: "its owner (pid 101) is gone",
      removable: true,
    });
    assert.equal(judgeLeftover(object("verify", dead, { kind: "volume" }), context())?.removable, true);
    assert.equal(judgeLeftover(object("primary", dead), context()), undefined);
    assert.equal(judgeLeftover(object("replica", dead), context()), undefined);
  });

  it("shows but keeps another host's objects and those without an owner", function () {
    const other = judgeLeftover(object("backup", remote), context());
    assert.equal(other?.removable, false);
    assert.match(other?.reason ?? "", /host h2/);
    const unowned = judgeLeftover(object("verify", undefined), context());
    assert.equal(unowned?.removable, false);
    assert.match(unowned?.reason ?? "", /no owner recorded/);
  });

  it("lets a server container follow its volumes' owner, and keeps a finished restore", function () {
    const server = object("restore", undefined, { node: "copy" });
    assert.equal(judgeLeftover(server, context({ nodeOwners: new Map([["copy", dead]]) }))?.removable, true);
    assert.equal(judgeLeftover(server, context({ nodeOwners: new Map([["copy", alive]]) })), undefined);
    assert.equal(judgeLeftover(object("restore", dead, { node: "copy" }), context({ restoredNodes: new Set(["copy"]) })), undefined);
    const running = context({ nodeOwners: new Map([["copy", dead]]), runningNodes: new Set(["copy"]) });
    assert.equal(judgeLeftover(server, running)?.removable, false, "a running restored server without its marker is kept");
    assert.equal(judgeLeftover(object("restore", dead, { node: "copy", kind: "volume" }), running)?.removable, false, "and so are its volumes");
    assert.equal(judgeLeftover(object("restore", dead, { node: "copy-job" }), running)?.removable, true, "its job container goes");
  });

  it("removes a partial file of a gone writer, or of no recorded writer after a day", function () {
    const now = new Date("2026-12-01T12:00:00Z");
    const fresh = new Date("2026-12-01T11:00:00Z");
    assert.equal(judgePartial({ path: "/b/x.partial-1", modifiedAt: fresh, owner: alive }, context(), now), undefined);
    assert.equal(judgePartial({ path: "/b/x.partial-2", modifiedAt: fresh, owner: dead }, context(), now)?.removable, true);
    assert.equal(judgePartial({ path: "/b/x.partial-3", modifiedAt: fresh, owner: remote }, context(), now)?.removable, false);
    assert.equal(judgePartial({ path: "/b/x.partial-4", modifiedAt: fresh }, context(), now), undefined);
    assert.equal(judgePartial({ path: "/b/x.partial-5", modifiedAt: new Date("2026-11-30T11:00:00Z") }, context(), now)?.removable, true);
  });

  it("tells a running owner from a gone one and from a reused pid, by start time", function () {
    const me = currentOwner();
    assert.equal(processStartTime(process.pid), me.started, "this process's start time is what its labels say");
    assert.equal(ownerState(me, me.host, processStartTime, () => true), "alive");
    assert.equal(ownerState({ ...me, started: "1" }, me.host, processStartTime, () => true), "gone", "same pid, other start: reused");
    assert.equal(ownerState({ ...me, pid: 2 ** 22 + 7 }, me.host, processStartTime, () => false), "gone");
    assert.equal(ownerState(me, "elsewhere", processStartTime, () => true), "unknown");
    assert.equal(ownerState(me, me.host, () => "no-proc", () => true), "alive");
    assert.equal(ownerState(me, me.host, () => "no-proc", () => false), "gone");
    assert.deepEqual(ownerOf(ownerLabels(me)), me);
    assert.equal(ownerOf({ "pgfort.owner-host": "h", "pgfort.owner-pid": "x", "pgfort.owner-started": "1" }), undefined);
  });
});
