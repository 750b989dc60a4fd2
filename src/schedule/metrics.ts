// Prometheus metrics of the scheduler (prom-client), one registry per scheduler.
import { Counter, Gauge, Registry } from "prom-client";

export class ScheduleMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({ name: "pgfort_backup_runs_total", help: "Backup job runs by outcome", labelNames: ["backup_job", "outcome"], registers: [this.registry] });
  readonly failures = new Counter({ name: "pgfort_backup_failures_total", help: "Failed backup job runs", labelNames: ["backup_job"], registers: [this.registry] });
  readonly skipped = new Counter({ name: "pgfort_backup_skipped_total", help: "Runs skipped because the previous run of the job was still going", labelNames: ["backup_job"], registers: [this.registry] });
  readonly lastSuccess = new Gauge({ name: "pgfort_backup_last_success_timestamp_seconds", help: "Unix time of the job's last successful run", labelNames: ["backup_job"], registers: [this.registry] });
  readonly lastDuration = new Gauge({ name: "pgfort_backup_last_duration_seconds", help: "Duration of the job's last run", labelNames: ["backup_job"], registers: [this.registry] });
  readonly lastBytes = new Gauge({ name: "pgfort_backup_last_bytes", help: "Bytes stored by the job's last successful backup", labelNames: ["backup_job"], registers: [this.registry] });
  readonly running = new Gauge({ name: "pgfort_backup_running", help: "1 while the job runs", labelNames: ["backup_job"], registers: [this.registry] });
  readonly verifyFailures = new Counter({ name: "pgfort_backup_verify_failures_total", help: "Restore drills after a backup whose verdict was failed", labelNames: ["backup_job"], registers: [this.registry] });
  /** Apart from failures: a drill stopped by an error (engine gone, OOM) says nothing about the backup. */
  readonly verifyErrors = new Counter({ name: "pgfort_backup_verify_errors_total", help: "Restore drills after a backup that stopped before a verdict", labelNames: ["backup_job"], registers: [this.registry] });
  /** Notifications not delivered within notify.timeout, retries included, by target (ping | webhook). */
  readonly notifyFailures = new Counter({ name: "pgfort_notify_failures_total", help: "Notifications that were not delivered within notify.timeout", labelNames: ["target"], registers: [this.registry] });

  constructor(jobs: readonly string[]) {
    for (const target of ["ping", "webhook"]) this.notifyFailures.inc({ target }, 0);
    // Zero series for every job from the start, so an alert on "no success" can see them.
    for (const job of jobs) {
      this.runs.inc({ backup_job: job, outcome: "success" }, 0);
      this.runs.inc({ backup_job: job, outcome: "failure" }, 0);
      this.failures.inc({ backup_job: job }, 0);
      this.skipped.inc({ backup_job: job }, 0);
      this.verifyFailures.inc({ backup_job: job }, 0);
      this.verifyErrors.inc({ backup_job: job }, 0);
      this.running.set({ backup_job: job }, 0);
    }
  }
}
