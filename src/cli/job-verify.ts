// `pgfort job verify [ID]`: the restore drill as a job inside the agent image (the agent itself, a
// `docker exec` into it, or a one-off container of its image). Internal: the host's `pgfort backup
// verify` hands the job over and shows its events. No Docker here: the scratch server is a child
// process (src/jobs/drill.ts). A drill that reaches a verdict, passed or failed, is a result (exit
// 0; the host says failed); one stopped before a verdict is an error event (DrillError, exit 3).
import type { Command } from "commander";
import { AGENT_SCRATCH_DIR } from "../agent/contract";
import { findBackup } from "../backup/catalog";
import { backupDirectory } from "../backup/layout";
import { verifyInJob } from "../jobs/drill";
import { jobAction, type JobIo } from "./job";
import { planPitrDrill } from "../backup/pitr";

export function registerJobVerify(job: Command, io: JobIo): void {
  job
    .command("verify [id]")
    .description("restore drill inside the agent image: checksums, a scratch server, pg_amcheck, row counts; the newest complete backup without ID")
    .option("--agent-config <file>", "the agent's config file (default: the secrets volume's)")
    .option("--scratch-dir <dir>", "where the scratch server lives (a volume)", AGENT_SCRATCH_DIR)
    .option("--target <url>", "a target other than the agent's (as the job sees it)")
    .option("--pitr", "a point-in-time drill: restore to a random point of the recoverable window (its base backup instead of ID)")
    .option("--stdin-lifeline", "abort when stdin closes")
    .action(
      jobAction<{ scratchDir: string; pitr?: boolean }>(io, async ({ context, target, emit, signal }, options, id) => {
        const { loaded } = context;
        const pitr = options.pitr ? await planPitrDrill(target, loaded.config.cluster) : undefined;
        const entry = pitr?.entry ?? (await findBackup(target, loaded.config.cluster, id ?? "latest"));
        emit({ event: "info", message: pitr ? `point-in-time drill: physical backup ${entry.id}, then archived WAL to ${pitr.recovery.time}` : `verifying ${entry.kind} backup ${entry.id}` });
        return verifyInJob({
          loaded,
          target,
          directory: backupDirectory(loaded.config.cluster, entry.kind, entry.id),
          manifest: entry.manifest,
          scratchDir: options.scratchDir,
          ...(pitr ? { recovery: pitr.recovery } : {}),
          onInfo: (message) => emit({ event: "info", message }),
          signal,
        });
      }),
    );
}
