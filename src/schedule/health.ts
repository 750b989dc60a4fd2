// Is every scheduled job healthy? The answer behind /healthz, so a monitor notices backups that
// silently stopped: a failed last run, or no success for two periods of the job's schedule. Pure.

export interface JobState {
  name: string;
  /** Time between two runs of its schedule. */
  periodMs: number;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastError: string | null;
  running: boolean;
}

export interface Health {
  ok: boolean;
  jobs: Array<{ name: string; ok: boolean; reason: string }>;
}

export function assessHealth(jobs: readonly JobState[], startedAt: Date, now: Date): Health {
  const results = jobs.map((job) => {
    if (job.lastFailureAt && (!job.lastSuccessAt || job.lastFailureAt > job.lastSuccessAt)) {
      return { name: job.name, ok: false, reason: `last run failed at ${job.lastFailureAt.toISOString()}: ${job.lastError ?? "unknown error"}` };
    }
    const since = job.lastSuccessAt ?? startedAt;
    const allowedMs = 2 * job.periodMs + 60_000;
    if (now.getTime() - since.getTime() > allowedMs && !job.running) {
      return { name: job.name, ok: false, reason: `no successful run since ${since.toISOString()} (more than two periods)` };
    }
    return { name: job.name, ok: true, reason: job.lastSuccessAt ? `last success ${job.lastSuccessAt.toISOString()}` : "waiting for its first run" };
  });
  return { ok: results.every((job) => job.ok), jobs: results };
}
