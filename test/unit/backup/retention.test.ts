import assert from "node:assert/strict";
import { dayOf, INCOMPLETE_GRACE_MS, isoWeekOf, planRetention, type RetentionCandidate } from "../../../src/backup/retention";
import type { Retention } from "../../../src/config/schema";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date("2026-11-23T12:00:00Z");

/** A small deterministic PRNG (mulberry32), so a failing history can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function history(seed: number): { backups: RetentionCandidate[]; policy: Retention } {
  const next = random(seed);
  const count = Math.floor(next() * 60);
  const backups: RetentionCandidate[] = [];
  for (let index = 0; index < count; index += 1) {
    const createdAt = new Date(NOW.getTime() - Math.floor(next() * 400 * DAY));
    const status = next() < 0.15 ? "incomplete" : "complete";
    backups.push({
      id: `${index}`,
      kind: next() < 0.5 ? "logical" : "physical",
      status,
      createdAt,
      lastWrittenAt: new Date(createdAt.getTime() + Math.floor(next() * HOUR)),
      verified: status === "complete" && next() < 0.3 ? (next() < 0.8 ? "passed" : "failed") : null,
    });
  }
  const policy: Retention = {
    keepLast: 1 + Math.floor(next() * 5),
    daily: Math.floor(next() * 8),
    weekly: Math.floor(next() * 5),
    monthly: Math.floor(next() * 7),
  };
  return { backups, policy };
}

const newestFirst = (a: RetentionCandidate, b: RetentionCandidate) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id);

describe("planRetention", function () {
  it("keeps the newest two with keepLast 2 and no buckets", function () {
    const backups: RetentionCandidate[] = [0, 1, 2, 3, 4].map((age) => ({
      id: `b${age}`,
      kind: "logical",
      status: "complete",
      createdAt: new Date(NOW.getTime() - age * DAY),
      lastWrittenAt: new Date(NOW.getTime() - age * DAY),
      verified: null,
    }));
    const decisions = planRetention(backups, { keepLast: 2, daily: 0, weekly: 0, monthly: 0 }, NOW);
    assert.deepEqual(decisions.filter((decision) => decision.keep).map((decision) => decision.id), ["b0", "b1"]);
  });

  it("keeps every backup in the chain of a kept incremental, and only those", function () {
    // full f0 <- i1 <- i2 (newest); a separate full g; keepLast 1 keeps i2 and so its chain.
    const at = (hoursAgo: number) => new Date(NOW.getTime() - hoursAgo * HOUR);
    const backup = (id: string, hoursAgo: number, parent: string | null): RetentionCandidate => ({ id, kind: "physical", status: "complete", createdAt: at(hoursAgo), lastWrittenAt: at(hoursAgo), verified: null, parent });
    const backups = [backup("g", 10, null), backup("f0", 3, null), backup("i1", 2, "f0"), backup("i2", 1, "i1")];
    const decisions = planRetention(backups, { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }, NOW);
    assert.deepEqual(decisions.filter((decision) => decision.keep).map((decision) => decision.id).sort(), ["f0", "i1", "i2"]);
    assert.deepEqual(decisions.find((decision) => decision.id === "f0")?.reasons, ["in the chain of kept i2"]);
  });

  it("keeps one backup per day, week and month, the newest of each", function () {
    const backups: RetentionCandidate[] = [];
    for (let hoursAgo = 0; hoursAgo < 24 * 90; hoursAgo += 6) {
      const createdAt = new Date(NOW.getTime() - hoursAgo * HOUR);
      backups.push({ id: `h${hoursAgo}`, kind: "physical", status: "complete", createdAt, lastWrittenAt: createdAt, verified: null });
    }
    const kept = planRetention(backups, { keepLast: 1, daily: 7, weekly: 4, monthly: 3 }, NOW).filter((decision) => decision.keep);
    const keptBackups = backups.filter((backup) => kept.some((decision) => decision.id === backup.id));
    assert.equal(new Set(keptBackups.map((backup) => dayOf(backup.createdAt))).size >= 7, true);
    assert.ok(keptBackups.length <= 1 + 7 + 4 + 3);
    // the newest of today is the one kept for today
    assert.ok(kept.some((decision) => decision.id === "h0" && decision.reasons.includes(`daily ${dayOf(NOW)}`)));
  });

  it("keeps incomplete backups younger than a day and deletes older ones", function () {
    const young = { id: "young", kind: "logical", status: "incomplete", createdAt: NOW, lastWrittenAt: new Date(NOW.getTime() - HOUR), verified: null } as const;
    const old = { ...young, id: "old", lastWrittenAt: new Date(NOW.getTime() - INCOMPLETE_GRACE_MS - 1) };
    const decisions = planRetention([young, old], { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }, NOW);
    assert.deepEqual(decisions.map((decision) => [decision.id, decision.keep]), [["young", true], ["old", false]]);
  });

  it("holds its invariants on 500 random histories", function () {
    for (let seed = 1; seed <= 500; seed += 1) {
      const { backups, policy } = history(seed);
      const decisions = planRetention(backups, policy, NOW);
      const decision = new Map(decisions.map((item) => [item.id, item]));
      const where = `seed ${seed}`;
      assert.equal(decisions.length, backups.length, where);
      for (const item of decisions) assert.ok(item.reasons.length > 0, `${where}: ${item.id} has no reason`);
      for (const kind of ["logical", "physical"] as const) {
        const complete = backups.filter((backup) => backup.kind === kind && backup.status === "complete").sort(newestFirst);
        // the newest complete backup of a kind is never deleted
        if (complete[0]) assert.ok(decision.get(complete[0].id)?.keep, `${where}: newest ${kind} deleted`);
        // nor the newest verified one
        const verified = complete.find((backup) => backup.verified === "passed");
        if (verified) assert.ok(decision.get(verified.id)?.keep, `${where}: newest verified ${kind} deleted`);
        // keepLast newest are kept
        for (const backup of complete.slice(0, policy.keepLast)) assert.ok(decision.get(backup.id)?.keep, `${where}: keepLast broken`);
        // each of the `daily` most recent days with a backup keeps one of them
        const days = [...new Set(complete.map((backup) => dayOf(backup.createdAt)))].slice(0, policy.daily);
        for (const day of days) {
          assert.ok(complete.some((backup) => dayOf(backup.createdAt) === day && decision.get(backup.id)?.keep), `${where}: day ${day} lost`);
        }
        const weeks = [...new Set(complete.map((backup) => isoWeekOf(backup.createdAt)))].slice(0, policy.weekly);
        for (const week of weeks) {
          assert.ok(complete.some((backup) => isoWeekOf(backup.createdAt) === week && decision.get(backup.id)?.keep), `${where}: week ${week} lost`);
        }
        // and no more are kept than the rules ask for
        const keptComplete = complete.filter((backup) => decision.get(backup.id)?.keep).length;
        assert.ok(keptComplete <= policy.keepLast + policy.daily + policy.weekly + policy.monthly + 2, `${where}: kept ${keptComplete}`);
      }
      for (const backup of backups.filter((candidate) => candidate.status === "incomplete")) {
        const young = NOW.getTime() - backup.lastWrittenAt.getTime() < INCOMPLETE_GRACE_MS;
        assert.equal(decision.get(backup.id)?.keep, young, `${where}: incomplete ${backup.id}`);
      }
    }
  });

  it("numbers ISO weeks like the standard", function () {
    assert.equal(isoWeekOf(new Date("2026-01-01T00:00:00Z")), "2026-W01");
    assert.equal(isoWeekOf(new Date("2027-01-01T00:00:00Z")), "2026-W53");
    assert.equal(isoWeekOf(new Date("2024-12-30T00:00:00Z")), "2025-W01");
    assert.equal(isoWeekOf(new Date("2026-11-23T12:00:00Z")), "2026-W48");
  });
});
