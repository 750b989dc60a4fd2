import assert from "node:assert/strict";
import { Gauge, Registry } from "prom-client";
import { startAgent, type AgentRunJob } from "../../../src/agent/main";
import type { AgentContext } from "../../../src/agent/context";
import type { BackupTarget } from "../../../src/backup/targets/target";
import { parseConfig } from "../../../src/config/load";
import type { ScheduleLoop } from "../../../src/schedule/loop";

function context(yaml: string, servers = ["primary"]): AgentContext {
  return {
    agent: { formatVersion: 1, configText: yaml, target: "file:///var/lib/pgfort/target", servers, primaryNode: servers[0] ?? "primary" },
    loaded: { config: parseConfig(yaml), file: undefined, baseDir: "/", stateDir: "/nonexistent" },
  };
}

// The loop never touches the target itself: the job engine does.
const target = {} as BackupTarget;
const quiet = { info: () => undefined, warn: () => undefined };

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe("the agent's main loop", function () {
  let loop: ScheduleLoop | undefined;
  afterEach(async function () {
    await loop?.stop(1000, "SIGTERM");
    loop = undefined;
  });

  it("runs with no jobs: /healthz 200, /metrics served", async function () {
    const runJob: AgentRunJob = async () => assert.fail("no job to run");
    loop = await startAgent({ context: context("cluster: app"), target, runJob, host: "127.0.0.1", port: 0, log: quiet });
    const health = await get(loop.port, "/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { ok: true, jobs: [] });
    assert.equal((await get(loop.port, "/metrics")).status, 200);
  });

  it("serves extra registries (the database metrics) beside the backup metrics", async function () {
    const database = new Registry();
    new Gauge({ name: "pg_up", help: "1 when the server answers", registers: [database] }).set(1);
    const yaml = "cluster: app\nbackups:\n  jobs: [{ name: nightly, kind: logical, schedule: '0 3 * * *' }]\n";
    loop = await startAgent({ context: context(yaml), target, runJob: async () => ({ bytes: 0, verify: null }), registries: [database], host: "127.0.0.1", port: 0, log: quiet });
    const metrics = (await get(loop.port, "/metrics")).body;
    assert.match(metrics, /^pg_up 1$/m);
    assert.match(metrics, /^pgfort_backup_runs_total\{backup_job="nightly",outcome="success"\} 0$/m);
  });

  it("hands each run the config file as it is now (servers after a promotion), and counts its outcome", async function () {
    const yaml = "cluster: app\nbackups:\n  jobs: [{ name: nightly, kind: logical, schedule: '0 3 * * *' }]\n";
    const seen: Array<{ servers: string[]; job: string; target: BackupTarget }> = [];
    const runJob: AgentRunJob = async (current, given, job) => {
      seen.push({ servers: current.agent.servers, job: job.name, target: given });
      return { bytes: 42, backupId: "b1", verify: null };
    };
    loop = await startAgent({ context: context(yaml), target, runJob, reloadContext: async () => context(yaml, ["r1", "primary"]), host: "127.0.0.1", port: 0, log: quiet });
    const job = loop.scheduler.health().jobs[0];
    assert.equal(job?.name, "nightly");
    await loop.scheduler.runNow(parseConfig(yaml).backups.jobs[0] ?? assert.fail("no job"));
    assert.deepEqual(seen, [{ servers: ["r1", "primary"], job: "nightly", target }]);
    assert.match((await get(loop.port, "/metrics")).body, /^pgfort_backup_last_bytes\{backup_job="nightly"\} 42$/m);
  });

  it("fails the run, not the agent, when the config file cannot be read: /healthz 503 naming the cause", async function () {
    const yaml = "cluster: app\nbackups:\n  jobs: [{ name: nightly, kind: logical, schedule: '0 3 * * *' }]\n";
    loop = await startAgent({
      context: context(yaml),
      target,
      runJob: async () => ({ bytes: 1, verify: null }),
      reloadContext: async () => {
        throw new Error("the agent's config cannot be used: gone");
      },
      host: "127.0.0.1",
      port: 0,
      log: quiet,
    });
    await loop.scheduler.runNow(parseConfig(yaml).backups.jobs[0] ?? assert.fail("no job"));
    const health = await get(loop.port, "/healthz");
    assert.equal(health.status, 503);
    assert.match(health.body, /config cannot be used: gone/);
  });

  it("on stop, waits for a running job and abandons it after the timeout", async function () {
    const yaml = "cluster: app\nbackups:\n  jobs: [{ name: slow, kind: logical, schedule: '0 3 * * *' }]\n";
    let abandoned: unknown;
    const runJob: AgentRunJob = (_context, _target, _job, signal) =>
      new Promise((_resolve, reject) => {
        signal?.addEventListener("abort", () => {
          abandoned = signal.reason;
          reject(signal.reason);
        });
      });
    const started = await startAgent({ context: context(yaml), target, runJob, reloadContext: async () => context(yaml), host: "127.0.0.1", port: 0, log: quiet });
    const run = started.scheduler.runNow(parseConfig(yaml).backups.jobs[0] ?? assert.fail("no job"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await started.stop(100, "SIGTERM"), false);
    await run;
    assert.match(String(abandoned), /interrupted by SIGTERM/);
    await assert.rejects(fetch(`http://127.0.0.1:${started.port}/healthz`));
  });
});
