// `pgfort job verify [ID]`: the restore drill as a job inside the agent image (the agent itself, a
// `docker exec` into it, or a one-off container of its image). Internal: the host's `pgfort backup
// verify` hands the job over and shows these events. No Docker here: the scratch server is a child
// process (src/jobs/drill.ts).
import type { Command } from "commander";
import { AGENT_SCRATCH_DIR } from "../agent/contract";
import { DEFAULT_AGENT_CONFIG_PATH, loadAgentContext } from "../agent/context";
import { findBackup } from "../backup/catalog";
import { backupDirectory } from "../backup/layout";
import { openTarget } from "../backup/targets/resolve";
import { verifyInJob } from "../jobs/drill";
import { interruption } from "./interrupt";
import { jobEvents } from "./job-events";

interface JobVerifyOptions {
  agentConfig: string;
  scratchDir: string;
}

export function registerJobVerify(job: Command): void {
  job
    .command("verify [id]")
    .description("restore drill inside the agent image: checksums, a scratch server, pg_amcheck, row counts; the newest complete backup without ID")
    .option("--agent-config <file>", "the agent's config file", DEFAULT_AGENT_CONFIG_PATH)
    .option("--scratch-dir <dir>", "where the scratch server lives (a volume)", AGENT_SCRATCH_DIR)
    .action(async (id: string | undefined, options: JobVerifyOptions, command: Command) => {
      const events = jobEvents(Boolean(command.optsWithGlobals<{ json?: boolean }>().json));
      try {
        const { loaded } = await loadAgentContext(options.agentConfig);
        const target = openTarget(loaded.config.backups.target, loaded, { onWarning: (message) => events.info(`warning: ${message}`) });
        const entry = await findBackup(target, loaded.config.cluster, id ?? "latest");
        events.info(`verifying ${entry.kind} backup ${entry.id}`);
        const { verdict, location } = await verifyInJob({
          loaded,
          target,
          directory: backupDirectory(loaded.config.cluster, entry.kind, entry.id),
          manifest: entry.manifest,
          scratchDir: options.scratchDir,
          onInfo: (message) => events.info(message),
          signal: interruption,
        });
        events.result("verdict", { verdict, location }, [
          `backup ${entry.id}: ${verdict.status === "passed" ? "verify passed" : "verify FAILED"}`,
          ...verdict.checks.map((check) => `  ${check.ok ? "ok  " : "FAIL"} ${check.name}: ${check.detail}`),
          `verdict: ${location}`,
        ]);
        process.exitCode = verdict.status === "passed" ? 0 : 1;
      } catch (error) {
        // Whatever the abort surfaced as (a killed tool, a torn-down stream), the cause is the signal.
        process.exitCode = events.error(interruption.aborted ? interruption.reason : error);
      }
      if (interruption.aborted) process.exit(process.exitCode);
    });
}
