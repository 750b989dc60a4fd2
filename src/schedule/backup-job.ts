// One scheduled run: the backup, then (if the job says so) its restore drill and retention.
import type { LoadedConfig } from "../config/load";
import type { BackupJob } from "../config/schema";
import type { DockerClient } from "../docker/client";
import { pruneBackups } from "../backup/prune";
import { runBackup } from "../backup/run";
import { backupDirectory } from "../backup/layout";
import { verifyBackup } from "../backup/verify";
import type { BackupTarget } from "../backup/targets/target";
import type { DrillSummary, RunOutcome } from "./scheduler";

/**
 * The drill's outcome is returned, not thrown, so the scheduler can count failed and stopped drills
 * apart. `signal` aborts the run (a job abandoned at the scheduler's stop): containers and partial
 * files go. `target` is opened once by the caller: a server's missing optional call is then one
 * warning per agent, not per run.
 */
export async function runScheduledJob(docker: DockerClient, loaded: LoadedConfig, target: BackupTarget, job: BackupJob, signal?: AbortSignal): Promise<RunOutcome> {
  const manifest = await runBackup(docker, loaded, target, { kind: job.kind, databases: job.databases, job: job.name, ...(signal ? { signal } : {}) });
  const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
  let verify: DrillSummary | null = null;
  if (job.verify) {
    try {
      const { verdict } = await verifyBackup(docker, loaded, target, backupDirectory(loaded.config.cluster, job.kind, manifest.id), manifest, undefined, signal ? { signal } : {});
      const failed = verdict.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
      verify = { status: verdict.status, detail: verdict.status === "passed" ? `backup ${manifest.id} passed its restore drill` : `backup ${manifest.id} was taken but failed its restore drill: ${failed.join("; ")}` };
    } catch (error) {
      // An abort is the scheduler stopping the run, not a drill that could not run.
      if (signal?.aborted) throw error;
      verify = { status: "error", detail: `backup ${manifest.id} was taken but its restore drill could not run: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  // No retention after a drill that did not pass: the newest backup may be the bad one.
  if (job.prune && (verify === null || verify.status === "passed")) await pruneBackups(target, loaded.config.cluster, loaded.config.backups.retention, { dryRun: false });
  return { bytes, backupId: manifest.id, verify };
}
