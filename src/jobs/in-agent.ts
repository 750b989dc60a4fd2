// A scheduled run inside the agent: the job engine in-process (backup, then its drill and
// retention when the job asks), the same code `pgfort job backup` runs for the host.
import type { AgentContext } from "../agent/context";
import type { BackupJob } from "../config/schema";
import { pruneBackups } from "../backup/prune";
import type { BackupTarget } from "../backup/targets/target";
import { DrillError } from "../errors";
import { runScheduledJob, type JobSteps } from "../schedule/backup-job";
import type { RunOutcome } from "../schedule/scheduler";
import { runBackupJob } from "./backup";
import { openJobRuntime } from "./runtime";

/** The steps of a run, in this process. verify: the drill inside the job container (issue 10) is wired here once it lands. */
export function inAgentSteps(context: AgentContext, target: BackupTarget): JobSteps {
  const { config } = context.loaded;
  return {
    backup: async (job, signal) => {
      const runtime = await openJobRuntime(context.agent);
      try {
        return await runBackupJob(runtime, config, target, { kind: job.kind, databases: job.databases, job: job.name, signal });
      } finally {
        await runtime.close();
      }
    },
    verify: async () => {
      throw new DrillError("the restore drill cannot run inside the agent yet", "run pgfort backup verify --latest on the host, or set verify: false on the job");
    },
    prune: async () => {
      await pruneBackups(target, config.cluster, config.backups.retention, { dryRun: false });
    },
  };
}

export function runJobInAgent(context: AgentContext, target: BackupTarget, job: BackupJob, signal?: AbortSignal): Promise<RunOutcome> {
  return runScheduledJob(inAgentSteps(context, target), job, signal);
}
