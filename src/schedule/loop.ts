// The long-running loop behind `pgfort schedule` (on the host) and `pgfort agent` (in the agent
// container): the scheduler over backups.jobs, its metrics, notifications, and the /metrics and
// /healthz server; stopped gracefully (no new runs, running jobs get a stop timeout).
import { Registry } from "prom-client";
import type { BackupJob, NotifyConfig } from "../config/schema";
import { InterruptedError } from "../errors";
import { Notifier } from "../notify/notifier";
import { redactUrl } from "../notify/plan";
import { ScheduleMetrics } from "./metrics";
import { Scheduler, type RunOutcome } from "./scheduler";
import type { Health } from "./health";
import { startStatusServer } from "./server";

export interface LoopLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface ScheduleLoopOptions {
  jobs: readonly BackupJob[];
  cluster: string;
  notify: NotifyConfig;
  timezone: string;
  /** One run of a job; `abandon` is aborted when the stop timeout passes with the run still going. */
  runJob(job: BackupJob, abandon: AbortSignal): Promise<RunOutcome>;
  host: string;
  port: number;
  /** Further metrics served on /metrics beside the backup metrics (the database metrics, issue 10). */
  registries?: readonly Registry[];
  /** Parts of /healthz beyond the jobs (the WAL archiver's), each failing it when not ok. */
  extraHealth?: () => Health["jobs"];
  log: LoopLog;
}

export interface ScheduleLoop {
  /** The port /metrics and /healthz listen on (the one asked for, or the one picked for port 0). */
  port: number;
  metrics: ScheduleMetrics;
  scheduler: Scheduler;
  /**
   * No new runs; waits up to `timeoutMs` for running ones, then abandons them (their signal aborts
   * with `reason`) and closes the server. True when every run finished in time.
   */
  stop(timeoutMs: number, reason: "SIGINT" | "SIGTERM"): Promise<boolean>;
}

export async function startScheduleLoop(options: ScheduleLoopOptions): Promise<ScheduleLoop> {
  const { jobs, log } = options;
  const metrics = new ScheduleMetrics(jobs.map((job) => job.name));
  const notifier = new Notifier(options.notify, options.cluster, ({ target, message }) => {
    metrics.notifyFailures.inc({ target });
    log.warn(message, { notifyFailure: target });
  });
  const targets = (["ping", "webhook"] as const).flatMap((key) => {
    const url = options.notify[key];
    return url ? [`${key} ${redactUrl(url)}`] : [];
  });
  if (targets.length > 0) log.info(`notifying ${targets.join(" and ")} (timeout ${options.notify.timeout} ms)`, { notify: targets });
  const abandon = new AbortController();
  const scheduler = new Scheduler(
    jobs,
    (job) => options.runJob(job, abandon.signal),
    metrics,
    { onEvent: (event, fields) => log.info(`${event} ${Object.entries(fields).map(([key, value]) => `${key}=${String(value)}`).join(" ")}`, { scheduler: event, ...fields }) },
    options.timezone,
    notifier.isConfigured ? notifier : undefined,
  );
  const registry = options.registries?.length ? Registry.merge([metrics.registry, ...options.registries]) : metrics.registry;
  const health = (): Health => {
    const jobs = scheduler.health();
    const extra = options.extraHealth?.() ?? [];
    return { ok: jobs.ok && extra.every((part) => part.ok), jobs: [...jobs.jobs, ...extra] };
  };
  const server = await startStatusServer(registry, health, options.host, options.port);
  log.info(`serving http://${options.host}:${server.port}/metrics and /healthz`, { port: server.port });
  scheduler.start();
  return {
    port: server.port,
    metrics,
    scheduler,
    async stop(timeoutMs, reason) {
      const finished = await scheduler.stop(timeoutMs);
      if (!finished) abandon.abort(new InterruptedError(reason));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      return finished;
    },
  };
}

/** Resolves with the first SIGTERM or SIGINT (`docker stop` sends SIGTERM). */
export function nextStopSignal(): Promise<"SIGTERM" | "SIGINT"> {
  return new Promise((resolve) => {
    const on = (signal: "SIGTERM" | "SIGINT") => () => {
      process.removeListener("SIGTERM", onTerm);
      process.removeListener("SIGINT", onInt);
      resolve(signal);
    };
    const onTerm = on("SIGTERM");
    const onInt = on("SIGINT");
    process.once("SIGTERM", onTerm);
    process.once("SIGINT", onInt);
  });
}
