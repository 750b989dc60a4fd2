// `pgfort job …`: internal commands, run INSIDE a container of the agent image (the agent, or a
// one-off job container) by the host's hand-off (src/handoff). They read the agent's config from
// the secrets volume and print NDJSON events on stdout (src/jobs/events.ts): progress, then one
// result or one error; the exit code is the CLI's for the same outcome.
import type { Command } from "commander";
import { incrementalFlags } from "../backup/incremental";
import { loadAgentContext, type AgentContext } from "../agent/context";
import { pruneBackups, pruneTarget } from "../backup/prune";
import { SECRETS_DIR } from "../cluster/secrets";
import { openTarget } from "../backup/targets/resolve";
import type { BackupTarget } from "../backup/targets/target";
import { ConfigError, InterruptedError } from "../errors";
import { runBackupJob } from "../jobs/backup";
import { errorEvent, formatJobEvent, type JobEvent } from "../jobs/events";
import { openJobRuntime } from "../jobs/runtime";
import { jobStateDir } from "../jobs/state-dir";
import { interruption } from "./interrupt";
import { registerJobRestore } from "./job-restore";
import { registerJobVerify } from "./job-verify";

/**
 * Where a job command's events go and what ends it: this process's stdio (`pgfort job …` run as
 * its own process), or one connection of the agent's job server (src/cli/job-server.ts).
 */
export interface JobIo {
  emit(event: JobEvent): void;
  /** Calls `abort` when whoever started the job is gone (stdin's end with --stdin-lifeline, the connection's end). */
  watch(options: LifelineOption, abort: (reason: unknown) => void): void;
  /** The job answered: nothing may keep it going (the process exits, the connection ends). */
  finish(exitCode: number): void;
}

/** `pgfort job …` as a process: events on stdout, SIGINT/SIGTERM and stdin's end abort, the exit code is the process's. */
export const processJobIo: JobIo = {
  emit: (event) => void process.stdout.write(formatJobEvent(event)),
  watch(options, abort) {
    interruption.addEventListener("abort", () => abort(interruption.reason), { once: true });
    if (interruption.aborted) abort(interruption.reason);
    if (options.stdinLifeline) {
      // The host half-closes stdin on Ctrl-C, and the engine closes it when the host dies.
      process.stdin.on("end", () => abort(new InterruptedError("SIGINT"))).on("error", () => abort(new InterruptedError("SIGINT")));
      process.stdin.resume();
    }
  },
  finish(exitCode) {
    process.exitCode = exitCode;
    // Nothing may keep the job alive after its answer (stdin, idle sockets).
    process.stdin.pause();
    process.stdout.write("", () => process.exit(exitCode));
  },
};

export interface JobCommandContext {
  context: AgentContext;
  target: BackupTarget;
  emit(event: JobEvent): void;
  signal: AbortSignal;
}

export interface LifelineOption {
  stdinLifeline?: boolean;
  target?: string;
  /** Another agent config file than the secrets volume's (tests, a job container made by hand). */
  agentConfig?: string;
}

export function registerJob(program: Command, io: JobIo = processJobIo): Command {
  const job = program.command("job").description("internal: jobs inside a container of the agent image (the host's backup commands run these)");
  registerJobBackup(job, io);
  registerJobPrune(job, io);
  registerJobVerify(job, io);
  registerJobRestore(job, io);
  return job;
}

export function registerJobBackup(job: Command, io: JobIo): void {
  job
    .command("backup")
    .description("take a backup of the cluster into the agent's target")
    .requiredOption("--kind <kind>", "logical or physical")
    .option("--database <name...>", "databases to dump (logical; default: every non-template database)")
    .option("--job <name>", "the job of backups.jobs the backup is for (recorded in the manifest)")
    .option("--logical-mode <mode>", "pipe (pg_dump -Z0 | compressor, default) or builtin (pg_dump's own compression)")
    .option("--incremental", "physical, PostgreSQL 17+: pg_basebackup --incremental against the newest physical backup")
    .option("--full-every <n>", "with --incremental: a chain holds at most N backups, then a full one (default 7)")
    .option("--agent-config <file>", "the agent's config file (default: the secrets volume's)")
    .option("--target <url>", "a target other than the agent's (as the job sees it)")
    .option("--stdin-lifeline", "abort when stdin closes (the host that started the job went away or pressed Ctrl-C)")
    .action(
      jobAction<{ kind: string; database?: string[]; job?: string; logicalMode?: string; incremental?: boolean; fullEvery?: string }>(io, async ({ context, target, emit, signal }, options) => {
        if (options.kind !== "logical" && options.kind !== "physical") throw new ConfigError(`--kind must be logical or physical, got ${options.kind}`, "pass --kind logical|physical");
        const logicalMode = options.logicalMode ?? "pipe";
        if (logicalMode !== "pipe" && logicalMode !== "builtin") throw new ConfigError(`--logical-mode must be pipe or builtin, got ${logicalMode}`, "pass --logical-mode pipe|builtin");
        const runtime = await openJobRuntime(context.agent);
        try {
          return await runBackupJob(runtime, context.loaded.config, target, {
            kind: options.kind,
            databases: options.database,
            job: options.job,
            logicalMode,
            incremental: incrementalFlags(options),
            signal,
            onInfo: (message) => emit({ event: "info", message }),
            onProgress: throttled(({ file, bytes, elapsedMs }) => emit({ event: "progress", file, bytes, elapsedMs })),
          });
        } finally {
          await runtime.close();
        }
      }),
    );
}

export function registerJobPrune(job: Command, io: JobIo): void {
  job
    .command("prune")
    .description("apply retention (backups.retention) to the agent's target")
    .option("--dry-run", "print the plan, delete nothing")
    .option("--agent-config <file>", "the agent's config file (default: the secrets volume's)")
    .option("--target <url>", "a target other than the agent's (as the job sees it)")
    .option("--stdin-lifeline", "abort when stdin closes")
    .action(
      jobAction<{ dryRun?: boolean }>(io, async ({ context, target, emit }, options) =>
        pruneBackups(pruneTarget(target, context.loaded, { onWarning: (message) => emit({ event: "warning", message }) }, SECRETS_DIR), context.loaded.config.cluster, context.loaded.config.backups.retention, {
          dryRun: Boolean(options.dryRun),
        }),
      ),
    );
}

/**
 * The frame of every job command: the agent's context and target, the abort (the IO's: signals,
 * stdin's or the connection's end), one result or error event, the exit code.
 */
export function jobAction<Options>(io: JobIo, work: (context: JobCommandContext, options: Options, ...positional: Array<string | undefined>) => Promise<unknown>) {
  return async (...commanderArgs: unknown[]): Promise<void> => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    // commander passes the command's arguments first, then its options and itself.
    const positional = commanderArgs.slice(0, -2) as Array<string | undefined>;
    const options = command.opts() as Options & LifelineOption;
    const { emit } = io;
    const controller = new AbortController();
    io.watch(options, (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    });
    let exitCode: number;
    try {
      const loadedContext = await loadAgentContext(...(options.agentConfig ? [options.agentConfig] : []));
      const context: AgentContext = { ...loadedContext, loaded: { ...loadedContext.loaded, stateDir: await jobStateDir() } };
      const target = openTarget(options.target ?? context.loaded.config.backups.target, context.loaded, { onWarning: (message) => emit({ event: "warning", message }) });
      const value = await work({ context, target, emit, signal: controller.signal }, options, ...positional);
      controller.signal.throwIfAborted();
      // In the agent's job server this is the agent's own peak (every job it ran, the schedule, /metrics).
      emit({ event: "result", value, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
      exitCode = 0;
    } catch (error) {
      const event = errorEvent(controller.signal.aborted ? controller.signal.reason : error);
      emit(event);
      exitCode = event.exitCode;
    }
    io.finish(exitCode);
  };
}

/** At most one progress event per second, and the first at once. */
function throttled<T>(emit: (value: T) => void, intervalMs = 1000): (value: T) => void {
  let last = 0;
  return (value) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    emit(value);
  };
}
