// `pgfort job restore ID`: the data half of `pgfort restore --as` as a job inside the agent image
// (src/jobs/restore.ts). Internal: the host makes the new server's volumes and container and hands
// this over: --data-dir for a physical backup (a one-off container with the new data volume
// mounted), --server for a logical one (the agent, or a one-off on the cluster network).
import type { Command } from "commander";
import { findBackup } from "../backup/catalog";
import { backupDirectory } from "../backup/layout";
import { SECRETS_DIR } from "../cluster/secrets";
import { restoreInJob } from "../jobs/restore";
import { jobAction, type JobIo } from "./job";
import { RecoveryTargetSchema } from "../wal/recovery-target";

export function registerJobRestore(job: Command, io: JobIo): void {
  job
    .command("restore <id>")
    .description("restore backup ID: a physical one into --data-dir, a logical one into the running --server; sha256 of every file first")
    .option("--data-dir <dir>", "physical: the new server's (empty) data directory")
    .option("--server <host>", "logical: the new server's host name")
    .option("--agent-config <file>", "the agent's config file (default: the secrets volume's)")
    .option("--target <url>", "a target other than the agent's (as the job sees it)")
    .option("--recovery-target <json>", "physical: replay archived WAL to this target (JSON, as pgfort restore passes it)")
    .option("--reindex", "physical: restore a backup sorted under other collation rules and rebuild its indexes, instead of refusing it")
    .option("--stdin-lifeline", "abort when stdin closes")
    .action(
      jobAction<{ dataDir?: string; server?: string; recoveryTarget?: string; reindex?: boolean }>(io, async ({ context, target, emit, signal }, options, id) => {
        const { cluster } = context.loaded.config;
        const entry = await findBackup(target, cluster, id ?? "latest");
        return restoreInJob({
          target,
          directory: backupDirectory(cluster, entry.kind, entry.id),
          manifest: entry.manifest,
          dataDir: options.dataDir,
          server: options.server,
          recovery: options.recoveryTarget === undefined ? undefined : RecoveryTargetSchema.parse(JSON.parse(options.recoveryTarget)),
          secretsDir: SECRETS_DIR,
          reindex: Boolean(options.reindex),
          onInfo: (message) => emit({ event: "info", message }),
          signal,
        });
      }),
    );
}
