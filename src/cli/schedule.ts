// `pgfort schedule`: long-running; cron jobs, /metrics and /healthz, graceful stop on SIGTERM/SIGINT.
import type { Command } from "commander";
import { ConfigError, InterruptedError } from "../errors";
import { openTarget } from "../backup/targets/resolve";
import { Notifier } from "../notify/notifier";
import { redactUrl } from "../notify/plan";
import { runScheduledJob } from "../schedule/backup-job";
import { hostSteps } from "../handoff/steps";
import { ScheduleMetrics } from "../schedule/metrics";
import { Scheduler } from "../schedule/scheduler";
import { startStatusServer } from "../schedule/server";
import { action } from "./context";
import { reapFirst } from "./reap";

export function registerSchedule(program: Command): void {
  program
    .command("schedule")
    .description("run backups.jobs on their cron schedules; serve /metrics and /healthz on 127.0.0.1")
    .option("--port <port>", "port of /metrics and /healthz", "9187")
    .option("--stop-timeout <seconds>", "on SIGTERM, wait this long for a running job", "600")
    .action(
      action<{ port: string; stopTimeout: string }>(async ({ output, loadConfig, docker }, options) => {
        const loaded = await loadConfig();
        const jobs = loaded.config.backups.jobs;
        if (jobs.length === 0) throw new ConfigError("backups.jobs is empty: nothing to schedule", "add jobs to pgfort.yaml, e.g. { name: nightly, kind: logical, schedule: \"0 3 * * *\" }");
        const port = Number(options.port);
        const stopTimeoutMs = Number(options.stopTimeout) * 1000;
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port ${options.port} is not a port`, "use 0-65535");
        if (!Number.isFinite(stopTimeoutMs) || stopTimeoutMs < 0) throw new ConfigError(`--stop-timeout ${options.stopTimeout} is not a number of seconds`, "e.g. --stop-timeout 600");
        const engine = await docker();
        const target = openTarget(loaded.config.backups.target, loaded, { onWarning: (message) => output.warn(message) });
        await reapFirst(output, engine, loaded, target);
        const metrics = new ScheduleMetrics(jobs.map((job) => job.name));
        const notifier = new Notifier(loaded.config.notify, loaded.config.cluster, ({ target, message }) => {
          metrics.notifyFailures.inc({ target });
          output.warn(message, { notifyFailure: target });
        });
        const targets = (["ping", "webhook"] as const).flatMap((key) => {
          const url = loaded.config.notify[key];
          return url ? [`${key} ${redactUrl(url)}`] : [];
        });
        if (targets.length > 0) output.info(`notifying ${targets.join(" and ")} (timeout ${loaded.config.notify.timeout} ms)`, { notify: targets });
        // Aborted only when the stop timeout passes with a job still running: that job then cleans up.
        const abandon = new AbortController();
        const scheduler = new Scheduler(jobs, (job) => runScheduledJob(hostSteps(engine, loaded, target), job, abandon.signal), metrics, {
          onEvent: (event, fields) => output.info(`${event} ${Object.entries(fields).map(([key, value]) => `${key}=${String(value)}`).join(" ")}`, { scheduler: event, ...fields }),
        }, loaded.config.backups.timezone, notifier.isConfigured ? notifier : undefined);
        const server = await startStatusServer(metrics, () => scheduler.health(), "127.0.0.1", port);
        output.info(`serving http://127.0.0.1:${server.port}/metrics and /healthz`, { port: server.port });
        scheduler.start();
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once("SIGTERM", () => resolve("SIGTERM"));
          process.once("SIGINT", () => resolve("SIGINT"));
        });
        output.info(`${signal}: no new runs; waiting up to ${stopTimeoutMs / 1000} s for running jobs`);
        const finished = await scheduler.stop(stopTimeoutMs);
        if (!finished) abandon.abort(new InterruptedError(signal === "SIGINT" ? "SIGINT" : "SIGTERM"));
        await new Promise((resolve) => server.close(resolve));
        output.result({ stopped: true, jobsFinished: finished }, finished ? "stopped" : "stopped with a job still running (it was abandoned)");
        if (!finished) process.exitCode = 1;
      }, { ownSignals: true }),
    );
}
