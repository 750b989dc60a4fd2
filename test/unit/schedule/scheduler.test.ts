import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { parseConfig } from "../../../src/config/load";
import { ScheduleMetrics } from "../../../src/schedule/metrics";
import { Scheduler, type DrillSummary } from "../../../src/schedule/scheduler";

async function counter(metrics: ScheduleMetrics, name: string, job: string): Promise<number> {
  const found = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === name);
  return Number(found?.values.find((value) => value.labels["backup_job"] === job)?.value ?? Number.NaN);
}

describe("scheduler: drill outcomes", function () {
  this.timeout(20_000);

  it("counts failed drills in pgfort_backup_verify_failures_total and stopped ones apart; both fail the run", async function () {
    const config = parseConfig(
      'backups:\n  jobs:\n    - { name: fails, kind: logical, schedule: "* * * * * *", verify: true }\n    - { name: stops, kind: logical, schedule: "* * * * * *", verify: true }\n    - { name: passes, kind: logical, schedule: "* * * * * *", verify: true }\n',
    );
    const outcomes: Record<string, DrillSummary> = {
      fails: { status: "failed", detail: "sha256 app.pgcustom.zst: expected …" },
      stops: { status: "error", detail: "the Docker engine went away" },
      passes: { status: "passed", detail: "ok" },
    };
    const metrics = new ScheduleMetrics(config.backups.jobs.map((job) => job.name));
    assert.equal(await counter(metrics, "pgfort_backup_verify_failures_total", "fails"), 0, "zero series from the start");
    const scheduler = new Scheduler(config.backups.jobs, async (job) => ({ bytes: 1, verify: outcomes[job.name] ?? null }), metrics, { onEvent: () => undefined }, "UTC");
    scheduler.start();
    // Cron fires each second; on a loaded host the first runs may come late.
    const ran = async (): Promise<boolean> =>
      (await counter(metrics, "pgfort_backup_verify_failures_total", "fails")) >= 1 &&
      (await counter(metrics, "pgfort_backup_verify_errors_total", "stops")) >= 1 &&
      scheduler.health().jobs.every((job) => job.reason !== "waiting for its first run");
    for (let attempt = 0; attempt < 150 && !(await ran()); attempt += 1) await sleep(100);
    await scheduler.stop(5_000);
    assert.ok((await counter(metrics, "pgfort_backup_verify_failures_total", "fails")) >= 1);
    assert.equal(await counter(metrics, "pgfort_backup_verify_errors_total", "fails"), 0);
    assert.ok((await counter(metrics, "pgfort_backup_verify_errors_total", "stops")) >= 1);
    assert.equal(await counter(metrics, "pgfort_backup_verify_failures_total", "stops"), 0, "an error is not a failed drill");
    assert.equal(await counter(metrics, "pgfort_backup_verify_failures_total", "passes"), 0);
    assert.ok((await counter(metrics, "pgfort_backup_failures_total", "fails")) >= 1, "a failed drill fails the run");
    assert.ok((await counter(metrics, "pgfort_backup_failures_total", "stops")) >= 1);
    assert.equal(await counter(metrics, "pgfort_backup_failures_total", "passes"), 0);
    const health = scheduler.health();
    assert.match(health.jobs.find((job) => job.name === "fails")?.reason ?? "", /last run failed .*sha256 app\.pgcustom\.zst/);
    assert.equal(health.jobs.find((job) => job.name === "passes")?.ok, true);
  });
});
