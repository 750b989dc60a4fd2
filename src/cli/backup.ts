// `pgfort backup run | list | verify | prune` and `pgfort restore`.
import type { Command } from "commander";
import type { LoadedConfig } from "../config/load";
import { ConfigError } from "../errors";
import { listBackups } from "../backup/catalog";
import { runBackup } from "../backup/run";
import { openTarget } from "../backup/targets/resolve";
import type { BackupKind } from "../backup/layout";
import { action } from "./context";
import { formatBytes } from "./output";

export function targetOf(loaded: LoadedConfig, flag: string | undefined) {
  return openTarget(flag ?? loaded.config.backups.target, loaded);
}

export function registerBackup(program: Command): void {
  const backup = program.command("backup").description("backups: run, list, verify, prune");

  backup
    .command("run")
    .description("take a backup in a throwaway container and stream it to the target")
    .option("--kind <kind>", "logical (pg_dump) or physical (pg_basebackup)")
    .option("--job <name>", "a job of backups.jobs (kind and databases from there)")
    .option("--database <name...>", "databases to dump (logical; default: every non-template database)")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .action(
      action<{ kind?: string; job?: string; database?: string[]; target?: string }>(async ({ output, loadConfig, docker }, options) => {
        const loaded = await loadConfig();
        const job = options.job ? loaded.config.backups.jobs.find((candidate) => candidate.name === options.job) : undefined;
        if (options.job && !job) {
          throw new ConfigError(`no job ${options.job} in backups.jobs`, `use one of: ${loaded.config.backups.jobs.map((candidate) => candidate.name).join(", ") || "(none configured)"}`);
        }
        const kind = options.kind ?? job?.kind;
        if (kind !== "logical" && kind !== "physical") throw new ConfigError(`--kind must be logical or physical, got ${kind ?? "nothing"}`, "pass --kind logical|physical or --job NAME");
        const target = targetOf(loaded, options.target);
        output.info(`backing up cluster ${loaded.config.cluster} (${kind}) to ${target.url}`);
        const manifest = await runBackup(await docker(), loaded, target, {
          kind: kind as BackupKind,
          databases: options.database ?? job?.databases,
          ...(job ? { job: job.name } : {}),
          onProgress: ({ file, bytes, elapsedMs }) =>
            output.throttledProgress(`${file}: ${formatBytes(bytes)} ${elapsedMs > 0 ? `(${formatBytes((bytes / elapsedMs) * 1000)}/s)` : ""}`, { file, bytes }),
        });
        const total = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
        output.result(manifest, [
          `backup ${manifest.id} complete: ${manifest.files.length} file(s), ${formatBytes(total)}`,
          ...manifest.files.map((file) => `  ${file.name}  ${formatBytes(file.bytes)}${file.rawBytes ? ` (from ${formatBytes(file.rawBytes)})` : ""}  sha256 ${file.sha256.slice(0, 16)}…`),
          `location: ${target.locate(`${manifest.cluster}/${manifest.kind}/${manifest.id}/`)}`,
        ]);
      }),
    );

  backup
    .command("list")
    .description("backups of this cluster in the target, newest first")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .action(
      action<{ target?: string }>(async ({ output, loadConfig }, options) => {
        const loaded = await loadConfig();
        const entries = await listBackups(targetOf(loaded, options.target), loaded.config.cluster);
        output.result(
          entries.map(({ keys: _keys, manifest: _manifest, ...entry }) => entry),
          entries.length
            ? entries.map((entry) => `${entry.id}  ${entry.kind.padEnd(8)}  ${entry.status.padEnd(10)}  ${formatBytes(entry.bytes).padStart(10)}  ${entry.verified ? `verify ${entry.verified}` : ""}`)
            : `no backups of cluster ${loaded.config.cluster}`,
        );
      }),
    );
}
