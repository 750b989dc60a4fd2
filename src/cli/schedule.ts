// `pgfort schedule`: long-running; cron jobs, /metrics and /healthz, graceful stop on SIGTERM/SIGINT.
import type { Command } from "commander";
import { ConfigError } from "../errors";
import { openTarget } from "../backup/targets/resolve";
import { runScheduledJob } from "../schedule/backup-job";
import { hostSteps } from "../handoff/steps";
import { nextStopSignal, startScheduleLoop } from "../schedule/loop";
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
        const loop = await startScheduleLoop({
          jobs,
          cluster: loaded.config.cluster,
          notify: loaded.config.notify,
          timezone: loaded.config.backups.timezone,
          runJob: (job, abandon) => runScheduledJob(hostSteps(engine, loaded), job, abandon),
          host: "127.0.0.1",
          port,
          log: output,
        });
        const signal = await nextStopSignal();
        output.info(`${signal}: no new runs; waiting up to ${stopTimeoutMs / 1000} s for running jobs`);
        const finished = await loop.stop(stopTimeoutMs, signal);
        output.result({ stopped: true, jobsFinished: finished }, finished ? "stopped" : "stopped with a job still running (it was abandoned)");
        if (!finished) process.exitCode = 1;
      }, { ownSignals: true }),
    );
}
