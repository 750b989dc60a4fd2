// One scheduled run: the backup, then (if the job says so) its restore drill and retention.
import type { LoadedConfig } from "../config/load";
import type { BackupJob } from "../config/schema";
import type { DockerClient } from "../docker/client";
import { BackupError } from "../errors";
import { pruneBackups } from "../backup/prune";
import { runBackup } from "../backup/run";
import { backupDirectory } from "../backup/layout";
import { verifyBackup } from "../backup/verify";
import type { BackupTarget } from "../backup/targets/target";
import type { RunOutcome } from "./scheduler";

/** `target` is opened once by the caller: a server's missing optional call is then one warning per agent, not per run. */
export async function runScheduledJob(docker: DockerClient, loaded: LoadedConfig, target: BackupTarget, job: BackupJob): Promise<RunOutcome> {
  const manifest = await runBackup(docker, loaded, target, { kind: job.kind, databases: job.databases, job: job.name });
  const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
  let verified: boolean | null = null;
  if (job.verify) {
    const result = await verifyBackup(docker, loaded, target, backupDirectory(loaded.config.cluster, job.kind, manifest.id), manifest);
    verified = result.ok;
    if (!result.ok) {
      const failed = result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
      throw new BackupError(`backup ${manifest.id} was taken but failed its restore drill: ${failed.join("; ")}`, "pgfort backup verify shows the details");
    }
  }
  if (job.prune) await pruneBackups(target, loaded.config.cluster, loaded.config.backups.retention, { dryRun: false });
  return { bytes, verified };
}
