// The agent's main loop (what `pgfort agent` runs in the <cluster>-agent container): the schedule
// of backups.jobs, run by the in-image job engine, with /metrics and /healthz. No Docker here: the
// agent has no socket. The job engine is passed in, so the loop is tested without one.
import type { Registry } from "prom-client";
import type { BackupTarget } from "../backup/targets/target";
import type { BackupJob } from "../config/schema";
import type { RunOutcome } from "../schedule/scheduler";
import { startScheduleLoop, type LoopLog, type ScheduleLoop, type ScheduleLoopOptions } from "../schedule/loop";
import { AGENT_DEFAULT_PORT } from "./contract";
import { loadAgentContext, type AgentContext } from "./context";

/** The job engine's entry point (src/jobs/in-agent.ts runJobInAgent). */
export type AgentRunJob = (context: AgentContext, target: BackupTarget, job: BackupJob, signal?: AbortSignal) => Promise<RunOutcome>;

export interface AgentOptions {
  /** The context the agent started with: its jobs, schedules and notify settings are read once. */
  context: AgentContext;
  target: BackupTarget;
  runJob: AgentRunJob;
  /**
   * Read again before every run, so the servers and primary that `replica add|promote|remove`
   * rewrote in the config file count without a restart. Default: loadAgentContext().
   */
  reloadContext?: () => Promise<AgentContext>;
  /** Extra metrics for /metrics (the database metrics collector). */
  registries?: readonly Registry[];
  /** Further parts of /healthz (the WAL archiver's). */
  extraHealth?: ScheduleLoopOptions["extraHealth"];
  /** Inside the container: every interface, the port Docker publishes on agent.bind. */
  host?: string;
  port?: number;
  log: LoopLog;
}

export async function startAgent(options: AgentOptions): Promise<ScheduleLoop> {
  const { context, target, runJob } = options;
  const { config } = context.loaded;
  const reload = options.reloadContext ?? (() => loadAgentContext());
  options.log.info(
    `agent of cluster ${config.cluster}: ${config.backups.jobs.length} job(s), target ${context.agent.target}, servers ${context.agent.servers.join(", ")}`,
    { cluster: config.cluster, jobs: config.backups.jobs.map((job) => job.name), servers: context.agent.servers },
  );
  return startScheduleLoop({
    jobs: config.backups.jobs,
    cluster: config.cluster,
    notify: config.notify,
    timezone: config.backups.timezone,
    runJob: async (job, abandon) => {
      // A config file that cannot be read now fails this run (and says why), not the agent.
      const current = await reload();
      return runJob({ agent: current.agent, loaded: context.loaded }, target, job, abandon);
    },
    host: options.host ?? "0.0.0.0",
    port: options.port ?? AGENT_DEFAULT_PORT,
    ...(options.registries ? { registries: options.registries } : {}),
    ...(options.extraHealth ? { extraHealth: options.extraHealth } : {}),
    log: options.log,
  });
}
