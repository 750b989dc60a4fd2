// One scheduled run: the backup, then (if the job says so) its restore drill and retention.
import type { LoadedConfig } from "../config/load";
import type { BackupJob } from "../config/schema";
import type { DockerClient } from "../docker/client";
import { BackupError } from "../errors";
import { pruneBackups } from "../backup/prune";
import { runBackup } from "../backup/run";
import { backupDirectory } from "../backup/layout";
import { openTarget } from "../backup/targets/resolve";
import { verifyBackup } from "../backup/verify";
import type { RunOutcome } from "./scheduler";

/** `signal` aborts the run (a job abandoned at the scheduler's stop): containers and partial files go. */
export async function runScheduledJob(docker: DockerClient, loaded: LoadedConfig, job: BackupJob, signal?: AbortSignal): Promise<RunOutcome> {
  const target = openTarget(loaded.config.backups.target, loaded);
  const manifest = await runBackup(docker, loaded, target, { kind: job.kind, databases: job.databases, job: job.name, ...(signal ? { signal } : {}) });
  const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
  let verified: boolean | null = null;
  if (job.verify) {
    const result = await verifyBackup(docker, loaded, target, backupDirectory(loaded.config.cluster, job.kind, manifest.id), manifest, undefined, signal ? { signal } : {});
    verified = result.ok;
    if (!result.ok) {
      const failed = result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
      throw new BackupError(`backup ${manifest.id} was taken but failed its restore drill: ${failed.join("; ")}`, "pgfort backup verify shows the details");
    }
  }
  if (job.prune) await pruneBackups(target, loaded.config.cluster, loaded.config.backups.retention, { dryRun: false });
  return { bytes, verified };
}
