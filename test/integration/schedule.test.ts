import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, listBackups } from "./backup-helpers";
import { Workspace } from "./workspace";

const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "index.js");

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : NaN;
}

describe("pgfort schedule", function () {
  it("runs a job every second, skips overlapping runs, survives a failing job, and /metrics shows both", async function () {
    const workspace = await appCluster(`backups:
  jobs:
    - { name: every-second, kind: logical, schedule: "* * * * * *", databases: [app], verify: true }
    - { name: broken, kind: logical, schedule: "*/2 * * * * *", databases: [nope] }
`);
    const child = spawn(process.execPath, [CLI, "--json", "schedule", "--port", "0", "--stop-timeout", "60"], { cwd: workspace.directory });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      let port = 0;
      for (let attempt = 0; attempt < 100 && !port; attempt += 1) {
        port = Number(/"port":(\d+)/.exec(stderr)?.[1] ?? 0);
        await sleep(100);
      }
      assert.ok(port, `the scheduler did not start: ${stderr}`);
      // Each run takes seconds (backup, then its restore drill), so a job due every second overlaps itself.
      let metrics = "";
      const enough = () =>
        metric(metrics, "pgfort_backup_runs_total", 'backup_job="every-second",outcome="success"') >= 2 &&
        metric(metrics, "pgfort_backup_skipped_total", 'backup_job="every-second"') >= 1 &&
        metric(metrics, "pgfort_backup_failures_total", 'backup_job="broken"') >= 2;
      for (let attempt = 0; attempt < 240 && !enough(); attempt += 1) {
        await sleep(500);
        metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      }
      assert.ok(metric(metrics, "pgfort_backup_runs_total", 'backup_job="every-second",outcome="success"') >= 2, metrics);
      assert.ok(metric(metrics, "pgfort_backup_skipped_total", 'backup_job="every-second"') >= 1, "a run that overlaps must be skipped");
      assert.ok(metric(metrics, "pgfort_backup_runs_total", 'backup_job="broken",outcome="failure"') >= 2, metrics);
      assert.ok(metric(metrics, "pgfort_backup_failures_total", 'backup_job="broken"') >= 2);
      assert.ok(metric(metrics, "pgfort_backup_last_success_timestamp_seconds", 'backup_job="every-second"') > Date.now() / 1000 - 60);
      assert.ok(metric(metrics, "pgfort_backup_last_bytes", 'backup_job="every-second"') > 0);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 503, "a failing job makes the scheduler unhealthy");
      const body = (await health.json()) as { jobs: Array<{ name: string; ok: boolean; reason: string }> };
      assert.equal(body.jobs.find((job) => job.name === "every-second")?.ok, true);
      assert.match(body.jobs.find((job) => job.name === "broken")?.reason ?? "", /database nope does not exist/);
      assert.ok(child.exitCode === null, "a failing job must not stop the scheduler");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, `the scheduler did not stop cleanly: ${stderr.slice(-2000)}`);
    assert.match(stdout, /"jobsFinished": true/);
    assert.match(stderr, /"scheduler":"skipped"/);
    assert.match(stderr, /"scheduler":"succeeded","job":"every-second","bytes":\d+,"verify":"passed"/);
    const complete = (await listBackups(workspace)).filter((backup) => backup.status === "complete");
    assert.ok(complete.length >= 2);
  });

  it("refuses a bad cron expression at start-up, naming the job", async function () {
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nbackups:\n  jobs:\n    - { name: nightly, kind: logical, schedule: "61 3 * * *" }\n`);
    const result = await workspace.run("schedule", "--port", "0");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: invalid config .*: backups\.jobs\.0\.schedule: job nightly: "61 3 \* \* \*" is not a cron expression/m);
  });
});
