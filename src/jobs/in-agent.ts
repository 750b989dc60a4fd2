// The job engine inside the agent image (issue 10): runs one job of backups.jobs with the tools as
// child processes, writing the target from inside the container. This build has no engine yet: the
// agent's loop (src/agent/main.ts) is wired to this name and signature, and every run fails with
// this error, visibly (/healthz 503, pgfort_backup_failures_total), until the engine replaces it.
import type { AgentContext } from "../agent/context";
import type { BackupTarget } from "../backup/targets/target";
import type { BackupJob } from "../config/schema";
import { BackupError } from "../errors";
import type { RunOutcome } from "../schedule/scheduler";

export async function runJobInAgent(context: AgentContext, _target: BackupTarget, job: BackupJob, _signal?: AbortSignal): Promise<RunOutcome> {
  throw new BackupError(
    `job ${job.name} of cluster ${context.loaded.config.cluster}: the job engine is not in this build`,
    "install a pgfort build whose agent image has the job engine (src/jobs/in-agent.ts), then pgfort build && pgfort up",
  );
}
