// `pgfort schedule`: every job of backups.jobs on its cron schedule. A run never overlaps itself
// (a skipped run is logged and counted); a failed run is recorded and never stops the scheduler.
import cron, { type ScheduledTask } from "node-cron";
import type { BackupJob } from "../config/schema";
import { ConfigError } from "../errors";
import { assessHealth, type Health, type JobState } from "./health";
import type { RunNotifier } from "../notify/notifier";
import type { RunEvent } from "../notify/plan";
import type { ScheduleMetrics } from "./metrics";

/** A restore drill after the backup: "error" when it stopped before a verdict. */
export interface DrillSummary {
  status: "passed" | "failed" | "error";
  detail: string;
}

/** What one run of a job did; thrown errors, and drills that did not pass, are failures. */
export interface RunOutcome {
  bytes: number;
  /** The backup's manifest id, for notifications; absent from jobs that do not say. */
  backupId?: string;
  verify: DrillSummary | null;
}

export type RunJob = (job: BackupJob) => Promise<RunOutcome>;

export interface SchedulerEvents {
  onEvent(event: string, fields: Record<string, unknown>): void;
}

export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly states = new Map<string, JobState>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly startedAt = new Date();

  constructor(
    private readonly jobs: readonly BackupJob[],
    private readonly runJob: RunJob,
    private readonly metrics: ScheduleMetrics,
    private readonly events: SchedulerEvents,
    private readonly timezone: string,
    private readonly notifier?: RunNotifier,
  ) {
    for (const job of jobs) {
      if (!cron.validate(job.schedule)) throw new ConfigError(`job ${job.name}: "${job.schedule}" is not a cron expression`, 'fix backups.jobs[].schedule, e.g. "0 3 * * *"');
    }
  }

  start(): void {
    for (const job of this.jobs) {
      const task = cron.schedule(job.schedule, () => this.track(job), { name: job.name, timezone: this.timezone, noOverlap: true });
      task.on("execution:overlap", () => {
        this.metrics.skipped.inc({ backup_job: job.name });
        this.events.onEvent("skipped", { job: job.name, reason: "the previous run is still going" });
      });
      const [next, after] = task.getNextRuns(2);
      const periodMs = next && after ? after.getTime() - next.getTime() : 24 * 3_600_000;
      this.states.set(job.name, { name: job.name, periodMs, lastSuccessAt: null, lastFailureAt: null, lastError: null, running: false });
      this.tasks.push(task);
      this.events.onEvent("scheduled", { job: job.name, schedule: job.schedule, next: next?.toISOString() ?? null });
    }
  }

  health(now = new Date()): Health {
    return assessHealth([...this.states.values()], this.startedAt, now);
  }

  /** Stops scheduling and waits for running jobs, at most `timeoutMs`; true when they all finished. */
  async stop(timeoutMs: number): Promise<boolean> {
    for (const task of this.tasks) await task.stop();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const finished = Promise.allSettled([...this.inFlight]).then(() => true);
    const result = await Promise.race([finished, timeout]);
    clearTimeout(timer);
    for (const task of this.tasks) await task.destroy();
    return result;
  }

  /** Runs `job` once now, outside its schedule, like a scheduled run (state, metrics, notifications). */
  runNow(job: BackupJob): Promise<void> {
    return this.track(job);
  }

  private track(job: BackupJob): Promise<void> {
    const run = this.execute(job);
    this.inFlight.add(run);
    return run.finally(() => this.inFlight.delete(run));
  }

  /**
   * The start notification goes out before the job and runs beside it; the end one waits for it (so a
   * monitor sees start before success) and shares its deadline: timeout after the job ends. A run is
   * thus never longer than the job plus notify.timeout, whatever the endpoints do.
   */
  private async execute(job: BackupJob): Promise<void> {
    const started = Date.now();
    const noEvent = { job: job.name, backupId: null, bytes: null, durationMs: null, error: null };
    const startNotice = this.notifier?.notify({ event: "start", ...noEvent }, started);
    const end = await this.runAndRecord(job, started);
    const endedAt = Date.now();
    await startNotice;
    await this.notifier?.notify(end, endedAt);
  }

  private async runAndRecord(job: BackupJob, started: number): Promise<RunEvent> {
    const state = this.states.get(job.name);
    if (state) state.running = true;
    this.metrics.running.set({ backup_job: job.name }, 1);
    this.events.onEvent("started", { job: job.name });
    try {
      const outcome = await this.runJob(job);
      if (outcome.verify?.status === "failed") this.metrics.verifyFailures.inc({ backup_job: job.name });
      if (outcome.verify?.status === "error") this.metrics.verifyErrors.inc({ backup_job: job.name });
      if (outcome.verify && outcome.verify.status !== "passed") {
        return this.recordFailure(job, state, outcome.verify.detail, started, outcome);
      }
      const now = new Date();
      this.metrics.runs.inc({ backup_job: job.name, outcome: "success" });
      this.metrics.lastSuccess.set({ backup_job: job.name }, now.getTime() / 1000);
      this.metrics.lastBytes.set({ backup_job: job.name }, outcome.bytes);
      if (state) state.lastSuccessAt = now;
      const durationMs = Date.now() - started;
      this.events.onEvent("succeeded", { job: job.name, bytes: outcome.bytes, verify: outcome.verify?.status ?? null, durationMs });
      return { event: "success", job: job.name, backupId: outcome.backupId ?? null, bytes: outcome.bytes, durationMs, error: null };
    } catch (error) {
      return this.recordFailure(job, state, error instanceof Error ? error.message : String(error), started, null);
    } finally {
      if (state) state.running = false;
      this.metrics.running.set({ backup_job: job.name }, 0);
      this.metrics.lastDuration.set({ backup_job: job.name }, (Date.now() - started) / 1000);
    }
  }

  private recordFailure(job: BackupJob, state: JobState | undefined, message: string, started: number, outcome: RunOutcome | null): RunEvent {
    this.metrics.runs.inc({ backup_job: job.name, outcome: "failure" });
    this.metrics.failures.inc({ backup_job: job.name });
    if (state) {
      state.lastFailureAt = new Date();
      state.lastError = message;
    }
    const durationMs = Date.now() - started;
    this.events.onEvent("failed", { job: job.name, error: message, durationMs });
    // A backup whose drill did not pass was still taken: its id and size help whoever reads the alert.
    return { event: "failure", job: job.name, backupId: outcome?.backupId ?? null, bytes: outcome?.bytes ?? null, durationMs, error: message };
  }
}
