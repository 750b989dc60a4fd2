// `pgfort schedule` on the host: each step of a run handed over like the CLI does, so a scheduled
// run and `pgfort backup run` run the same job code (in the agent, or a one-off container).
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { backupDirectory } from "../backup/layout";
import type { BackupTarget } from "../backup/targets/target";
import { verifyBackup } from "../backup/verify";
import type { JobSteps } from "../schedule/backup-job";
import { handOffBackup, handOffPrune } from "./backup";

/** verify: the host's drill until the drill runs inside the job container (issue 10). */
export function hostSteps(docker: DockerClient, loaded: LoadedConfig, target: BackupTarget): JobSteps {
  return {
    backup: (job, signal) => handOffBackup(docker, loaded, { kind: job.kind, databases: job.databases, job: job.name, signal }),
    verify: async (job, manifest, signal) =>
      (await verifyBackup(docker, loaded, target, backupDirectory(loaded.config.cluster, job.kind, manifest.id), manifest, undefined, signal ? { signal } : {})).verdict,
    prune: async (signal) => {
      await handOffPrune(docker, loaded, { dryRun: false, signal });
    },
  };
}
