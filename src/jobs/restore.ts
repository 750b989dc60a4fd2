// `restore --as` as a job inside the agent image: the sha256 of every file read from the target,
// then the tools as child processes fed from it. Physical: the base tar into the new server's data
// directory (its volume, mounted into a one-off job container), then pg_verifybackup; the host
// starts the server after. Logical: globals and databases restored into the new server, running,
// reached on its socket in the cluster's socket volume or over the cluster network. No Docker here.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BackupError } from "../errors";
import { CheckFailedError, requireIntactFiles, type Check } from "../backup/checksums";
import type { BackupManifest } from "../backup/manifest";
import { BACKUP_IDENTITY_FILE, DUMP_CREDENTIALS, planRestoreProgram, type JobProgram } from "../backup/plan";
import { decryptionFailure } from "./tool-failure";
import type { BackupTarget } from "../backup/targets/target";
import type { Readable } from "node:stream";
import { runChildProgram } from "./child-program";
import { socketDirOf } from "./postgres";
import type { RecoveryTarget } from "../wal/recovery-target";
import { recoverToTarget, type RecoveryOutcome } from "./recover";
import { CHECKED_IN_STREAM, extractPhysical, physicalChain } from "./chain";
import { checkCollations, reindexCollations } from "./collation";

export interface RestoreInJobOptions {
  target: BackupTarget;
  /** The backup's directory in the target, with a trailing slash (backupDirectory()). */
  directory: string;
  manifest: BackupManifest;
  /** Physical: the data directory to fill, empty (the new server's data volume). */
  dataDir?: string | undefined;
  /** Logical: the new server's host name; it runs and has the cluster's superuser password. */
  server?: string | undefined;
  secretsDir: string;
  /** Physical: replay archived WAL to this point (restore --to, --to-lsn, --to-name, --latest). */
  recovery?: RecoveryTarget | undefined;
  onInfo?(message: string): void;
  signal?: AbortSignal | undefined;
  /** `pgfort-job` on PATH in the image; a path in tests. */
  jobCommand?: string;
  /** Physical: a backup sorted under other collation rules is restored and its indexes rebuilt, not refused. */
  reindex?: boolean | undefined;
}

export async function restoreInJob(options: RestoreInJobOptions): Promise<{ checks: Check[]; recovery?: RecoveryOutcome }> {
  const { target, directory, manifest, signal } = options;
  // Before anything is read: a refusal costs nothing.
  const mismatches = manifest.kind === "physical" ? await checkCollations(manifest, Boolean(options.reindex)) : [];
  const damagedHint = "restore another backup (pgfort backup list); this one was not applied anywhere";
  // Physical: the base files are checked as they are extracted (read once), the others first.
  const checks = await requireIntactFiles(target, directory, manifest, damagedHint, signal, manifest.kind === "physical" ? CHECKED_IN_STREAM : {});
  signal?.throwIfAborted();
  const step = async (program: JobProgram, input: Readable | undefined, what: string, baseEnv: Record<string, string>) => {
    const scratch = await mkdtemp(path.join(tmpdir(), "pgfort-restore-"));
    try {
      const run = await runChildProgram(program, { ...(input ? { stdin: input } : {}), signal, baseEnv: { PGFORT_TMP: scratch, ...baseEnv }, ...(options.jobCommand ? { command: options.jobCommand } : {}) });
      if (run.exitCode === 0 && run.result !== undefined) return;
      const undecryptable = decryptionFailure(run.stderr.toString(), `backup ${manifest.id}`, manifest.encryption?.recipients);
      if (undecryptable) throw undecryptable;
      const errors = run.stderr.toString().split("\n").filter((line) => /^psql: .*ERROR/.test(line));
      const message = `${what} failed (exit ${run.exitCode}): ${errors.join("; ") || run.stderr.lastLines(8) || "no output"}`;
      const hint = "read the message above; the partly restored server is removed";
      // The tool ran and refused the backup (exit 1-127): a failed check. 128+ is a signal.
      if (run.exitCode > 0 && run.exitCode < 128) throw new CheckFailedError(message, hint, [...checks, { name: what, ok: false, detail: message }]);
      throw new BackupError(message, hint);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };
  if (manifest.kind === "physical") {
    const dataDir = options.dataDir;
    if (!dataDir) throw new BackupError(`backup ${manifest.id} is physical: the job needs the new server's data directory`, "pass --data-dir (pgfort restore does)");
    const chain = await physicalChain(target, manifest);
    options.onInfo?.(`extracting ${chain.length > 1 ? `the incremental chain of ${chain.length} backups (${chain[0]?.id ?? "?"} + ${chain.length - 1})` : "the base backup"} into ${dataDir}, each file's sha256 checked on the way`);
    checks.push(...(await extractPhysical({ target, chain, dataDir, damagedHint, secretsDir: options.secretsDir, signal, run: (program, input, what) => step(program, input, what, {}) })));
    await step({ verb: "verify-base", env: { PGFORT_DATA_DIR: dataDir } }, undefined, "pg_verifybackup", {});
    checks.push({ name: "pg_verifybackup", ok: true, detail: "the extracted files and WAL match the backup's own manifest" });
    const recovery = options.recovery && (await recoverToTarget({
      target,
      manifest,
      dataDir,
      recovery: options.recovery,
      jobCommand: options.jobCommand,
      identityFile: path.join(options.secretsDir, BACKUP_IDENTITY_FILE),
      onInfo: options.onInfo,
      signal,
    }));
    if (recovery) {
      const reached = recovery.reached;
      checks.push({
        name: "point-in-time recovery",
        ok: true,
        detail: `replayed ${recovery.walFiles} archived WAL file(s) to ${recovery.target}: ${reached.stopLine ?? "end of the archive"}; last transaction ${reached.lastTransactionAt ?? "none"}, redo done at ${reached.redoDoneAt ?? "?"}`,
      });
    }
    if (mismatches.length > 0) {
      const which = mismatches.map((mismatch) => `${mismatch.database} ${mismatch.recorded ?? "?"}`).join(", ");
      options.onInfo?.(`collation versions differ from this image's (glibc ${mismatches[0]?.actual ?? "?"}): ${which}; rebuilding the indexes that depend on them`);
      const rebuilt = await reindexCollations({ dataDir, jobCommand: options.jobCommand, signal });
      checks.push({ name: "collation", ok: true, detail: `rebuilt ${rebuilt.reindexed} index(es) in ${rebuilt.databases} database(s) and refreshed the collation versions (${which} -> ${mismatches[0]?.actual ?? "?"})` });
    }
    return { checks, ...(recovery ? { recovery } : {}) };
  }
  if (options.recovery) throw new BackupError(`backup ${manifest.id} is logical: it cannot be rolled forward with WAL`, "restore to a point in time from a physical backup (pgfort backup list)");
  const server = options.server;
  if (!server) throw new BackupError(`backup ${manifest.id} is logical: the job needs the new server`, "pass --server (pgfort restore does)");
  const host = (await socketDirOf(server)) ?? server;
  options.onInfo?.(`checksums of ${manifest.files.length} file(s) match; restoring into ${server}`);
  const env = { PGFORT_PGHOST: host, PGFORT_PGUSER: DUMP_CREDENTIALS.user, PGFORT_SECRET_FILE: path.join(options.secretsDir, DUMP_CREDENTIALS.secret) };
  for (const file of manifest.files) {
    options.onInfo?.(`restoring ${file.name}`);
    await step(planRestoreProgram(file, options.secretsDir), await target.read(`${directory}${file.name}`), `restoring ${file.name}`, env);
  }
  return { checks };
}
