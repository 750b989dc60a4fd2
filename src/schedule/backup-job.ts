// One scheduled run: the backup, then (if the job says so) its restore drill and retention. The
// steps are passed in: inside the agent they are the job engine itself (src/jobs/in-agent.ts); in
// `pgfort schedule` on the host they hand each step to the agent or a one-off job container
// (src/handoff), so both run the same job code.
import type { BackupJob } from "../config/schema";
import type { BackupManifest } from "../backup/manifest";
import type { Verdict } from "../backup/verdict";
import type { DrillSummary, RunOutcome } from "./scheduler";

export interface JobSteps {
  backup(job: BackupJob, signal: AbortSignal | undefined): Promise<BackupManifest>;
  /** The restore drill of the backup just taken; throws when it cannot reach a verdict. */
  verify(job: BackupJob, manifest: BackupManifest, signal: AbortSignal | undefined): Promise<Verdict>;
  prune(signal: AbortSignal | undefined): Promise<void>;
}

/**
 * The drill's outcome is returned, not thrown, so the scheduler can count failed and stopped drills
 * apart. `signal` aborts the run (a job abandoned at the scheduler's stop): programs and partial
 * files go.
 */
export async function runScheduledJob(steps: JobSteps, job: BackupJob, signal?: AbortSignal): Promise<RunOutcome> {
  const manifest = await steps.backup(job, signal);
  const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
  let verify: DrillSummary | null = null;
  if (job.verify) {
    try {
      const verdict = await steps.verify(job, manifest, signal);
      const failed = verdict.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
      verify = { status: verdict.status, detail: verdict.status === "passed" ? `backup ${manifest.id} passed its restore drill` : `backup ${manifest.id} was taken but failed its restore drill: ${failed.join("; ")}` };
    } catch (error) {
      // An abort is the scheduler stopping the run, not a drill that could not run.
      if (signal?.aborted) throw error;
      verify = { status: "error", detail: `backup ${manifest.id} was taken but its restore drill could not run: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  // No retention after a drill that did not pass: the newest backup may be the bad one.
  if (job.prune && (verify === null || verify.status === "passed")) await steps.prune(signal);
  return { bytes, backupId: manifest.id, verify };
}
