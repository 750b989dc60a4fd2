// A scheduled run inside the agent: the job engine in-process (backup, then its drill and
// retention when the job asks), the same code `pgfort job backup` runs for the host.
import type { AgentContext } from "../agent/context";
import type { BackupJob } from "../config/schema";
import { pruneBackups, pruneTarget } from "../backup/prune";
import { SECRETS_DIR } from "../cluster/secrets";
import type { BackupTarget } from "../backup/targets/target";
import { AGENT_SCRATCH_DIR } from "../agent/contract";
import { backupDirectory } from "../backup/layout";
import { verifyInJob } from "./drill";
import { planPitrDrill } from "../backup/pitr";
import { runScheduledJob, type JobSteps } from "../schedule/backup-job";
import type { RunOutcome } from "../schedule/scheduler";
import { runBackupJob } from "./backup";
import { openJobRuntime } from "./runtime";

/** The steps of a run, in this process: the backup, its drill in the agent's scratch volume, retention. */
export function inAgentSteps(context: AgentContext, target: BackupTarget): JobSteps {
  const { config } = context.loaded;
  return {
    backup: async (job, signal) => {
      const runtime = await openJobRuntime(context.agent);
      try {
        return await runBackupJob(runtime, config, target, { kind: job.kind, databases: job.databases, job: job.name, incremental: job.incremental ? { fullEvery: job.fullEvery } : undefined, signal });
      } finally {
        await runtime.close();
      }
    },
    verify: async (job, manifest, signal) => {
      // A PITR drill: the point is random in the window, its base the backup that fits it.
      const pitr = job.verify === "pitr" ? await planPitrDrill(target, config.cluster) : undefined;
      const base = pitr ? pitr.entry.manifest : manifest;
      const { verdict } = await verifyInJob({
        loaded: context.loaded,
        target,
        directory: backupDirectory(config.cluster, base.kind, base.id),
        manifest: base,
        scratchDir: AGENT_SCRATCH_DIR,
        ...(pitr ? { recovery: pitr.recovery } : {}),
        ...(signal ? { signal } : {}),
      });
      return verdict;
    },
    prune: async () => {
      await pruneBackups(pruneTarget(target, context.loaded, { onWarning: () => undefined }, SECRETS_DIR), config.cluster, config.backups.retention, { dryRun: false });
    },
  };
}

export function runJobInAgent(context: AgentContext, target: BackupTarget, job: BackupJob, signal?: AbortSignal): Promise<RunOutcome> {
  return runScheduledJob(inAgentSteps(context, target), job, signal);
}
