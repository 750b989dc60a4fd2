// `pgfort backup run | list | verify | prune` and `pgfort restore`.
import path from "node:path";
import type { Command } from "commander";
import { incrementalFlags } from "../backup/incremental";
import type { LoadedConfig } from "../config/load";
import { ConfigError } from "../errors";
import { findBackup } from "../backup/catalog";
import { removeRestored, restoreBackup } from "../backup/restore";
import { backupDirectory } from "../backup/layout";
import { readTopology } from "../cluster/topology";
import { validateReplicaName } from "../replica/plan";
import { objectName } from "../docker/labels";
import { confirm } from "./confirm";
import { handOffBackup, handOffPrune, handOffVerify, type HandOffListener } from "../handoff/backup";
import { openTarget } from "../backup/targets/resolve";
import type { BackupKind } from "../backup/layout";
import { action } from "./context";
import { formatBytes, type Output } from "./output";
import { reapFirst } from "./reap";
import { chooseBase, describeWindow, readWindow } from "../backup/pitr";
import { describeTarget, parseRecoveryFlags, type RecoveryFlags } from "../wal/recovery-target";

export function targetOf(loaded: LoadedConfig, flag: string | undefined, output: Output) {
  return openTarget(flag ?? loaded.config.backups.target, loaded, { onWarning: (message) => output.warn(message) });
}

/** How a handed-over job's events show: progress lines, and where it runs (as an info line, an event under --json). */
export function jobListener(output: Output): HandOffListener {
  return {
    onProgress: ({ file, bytes, elapsedMs }) =>
      output.throttledProgress(`${file}: ${formatBytes(bytes)} ${elapsedMs > 0 ? `(${formatBytes((bytes / elapsedMs) * 1000)}/s)` : ""}`, { file, bytes, elapsedMs }),
    onInfo: (message) => output.info(message),
    onWarning: (message) => output.warn(message),
    onStart: ({ mode, container }) => output.info(mode === "agent" ? `running in the agent ${container}` : `running in a one-off job container ${container}`, { jobContainer: container, jobMode: mode }),
  };
}

export function registerBackup(program: Command): void {
  const backup = program.command("backup").description("backups: run, list, verify, prune");

  backup
    .command("run")
    .description("take a backup: handed to the agent (or a one-off container of its image), which streams it to the target")
    .option("--kind <kind>", "logical (pg_dump) or physical (pg_basebackup)")
    .option("--job <name>", "a job of backups.jobs (kind and databases from there)")
    .option("--database <name...>", "databases to dump (logical; default: every non-template database)")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .option("--incremental", "physical, PostgreSQL 17+: only what changed since the newest physical backup (pg_basebackup --incremental)")
    .option("--full-every <n>", "with --incremental: a chain holds at most N backups, then a full one (default: the job's fullEvery, 7)")
    .action(
      action<{ kind?: string; job?: string; database?: string[]; target?: string; incremental?: boolean; fullEvery?: string }>(async ({ output, loadConfig, docker, signal }, options) => {
        const loaded = await loadConfig();
        const job = options.job ? loaded.config.backups.jobs.find((candidate) => candidate.name === options.job) : undefined;
        if (options.job && !job) {
          throw new ConfigError(`no job ${options.job} in backups.jobs`, `use one of: ${loaded.config.backups.jobs.map((candidate) => candidate.name).join(", ") || "(none configured)"}`);
        }
        const kind = options.kind ?? job?.kind;
        if (kind !== "logical" && kind !== "physical") throw new ConfigError(`--kind must be logical or physical, got ${kind ?? "nothing"}`, "pass --kind logical|physical or --job NAME");
        const target = targetOf(loaded, options.target, output);
        output.info(`backing up cluster ${loaded.config.cluster} (${kind}) to ${target.url}`);
        await reapFirst(output, await docker(), loaded, target);
        const manifest = await handOffBackup(await docker(), loaded, {
          signal,
          kind: kind as BackupKind,
          databases: options.database ?? job?.databases,
          job: job?.name,
          // The flags win over the job's; a job's own fullEvery applies to --incremental too.
          incremental:
            options.incremental || options.fullEvery !== undefined
              ? incrementalFlags({ incremental: options.incremental, fullEvery: options.fullEvery ?? (job ? String(job.fullEvery) : undefined) })
              : job?.incremental
                ? { fullEvery: job.fullEvery }
                : undefined,
          targetUrl: options.target,
          ...jobListener(output),
        });
        const total = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
        output.result(manifest, [
          `backup ${manifest.id} complete: ${manifest.files.length} file(s), ${formatBytes(total)}${manifest.parent ? ` (incremental of ${manifest.parent})` : ""}`,
          ...manifest.files.map((file) => `  ${file.name}  ${formatBytes(file.bytes)}${file.rawBytes ? ` (from ${formatBytes(file.rawBytes)})` : ""}  sha256 ${file.sha256.slice(0, 16)}…`),
          `location: ${target.locate(`${manifest.cluster}/${manifest.kind}/${manifest.id}/`)}`,
        ]);
        // On a swarm the job runs as a job service beside the agent (src/swarm/handoff.ts).
      }, { swarm: true }),
    );

  backup
    .command("list")
    .description("backups of this cluster in the target, newest first")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .action(
      action<{ target?: string }>(async ({ output, loadConfig }, options) => {
        const loaded = await loadConfig();
        const { entries, window } = await readWindow(targetOf(loaded, options.target, output), loaded.config.cluster);
        // --json stays an array of backups (scripts rely on it); each carries the cluster's window.
        output.result(
          entries.map(({ keys: _keys, manifest, ...entry }) => ({ ...entry, parent: manifest?.parent ?? null, window })),
          entries.length
            ? [
                ...entries.map(
                  (entry) =>
                    `${entry.id}  ${entry.kind.padEnd(8)}  ${entry.status.padEnd(10)}  ${formatBytes(entry.bytes).padStart(10)}  ${entry.verified ? `verify ${entry.verified}` : ""}${entry.manifest?.parent ? `  incremental of ${entry.manifest.parent}` : ""}${entry.reason ? `  (${entry.reason})` : ""}`.trimEnd(),
                ),
                `${describeWindow(window)}; ${window.files} WAL file(s) archived`,
              ]
            : `no backups of cluster ${loaded.config.cluster}`,
        );
        // It only reads the target: the same on a swarm, where the agent service takes the backups.
      }, { swarm: true }),
    );

  registerPrune(backup);

  backup
    .command("verify [id]")
    .description("restore drill in a job of the agent image: checksums, a scratch server, pg_amcheck, row counts; writes a new verify-*.json verdict")
    .option("--latest", "the newest complete backup")
    .option("--pitr", "point-in-time drill: restore a physical backup plus archived WAL to a random point of the recoverable window")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .action(
      action<{ latest?: boolean; pitr?: boolean; target?: string }>(async ({ output, loadConfig, docker, signal }, options, id) => {
        if (!id && !options.latest && !options.pitr) throw new ConfigError("backup verify needs a backup id, --latest or --pitr", "pgfort backup list shows the ids");
        if (options.pitr && (id || options.latest)) throw new ConfigError("--pitr picks its own point and base backup", "give --pitr alone");
        const loaded = await loadConfig();
        const target = targetOf(loaded, options.target, output);
        const named = options.pitr ? undefined : await findBackup(target, loaded.config.cluster, id ?? "latest");
        await reapFirst(output, await docker(), loaded, target);
        // A DrillError (the drill could not run to a verdict) comes back as one: exit 3, no verdict written.
        const request = named ? { id: named.id } : { pitr: true as const };
        const { verdict, location: located } = await handOffVerify(await docker(), loaded, { ...request, targetUrl: options.target, signal, ...jobListener(output) });
        const entry = named ?? { id: verdict.id, kind: "physical" as const };
        // The job names the verdict by its view of the target; the user knows the host's.
        const location = target.locate(`${backupDirectory(loaded.config.cluster, entry.kind, entry.id)}${path.posix.basename(located)}`);
        output.result({ ...verdict, location }, [
          `backup ${entry.id}: ${verdict.status === "passed" ? "verify passed" : "verify FAILED"}`,
          ...verdict.checks.map((check) => `  ${check.ok ? "ok  " : "FAIL"} ${check.name}: ${check.detail}`),
          `verdict: ${location}`,
        ]);
        if (verdict.status !== "passed") process.exitCode = 1;
      }, { swarm: true }),
    );
}

export function registerPrune(backup: Command): void {
  backup
    .command("prune")
    .description("apply retention (backups.retention): keepLast + daily/weekly/monthly; abort stale multipart uploads")
    .option("--dry-run", "print the plan, delete nothing")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .action(
      action<{ dryRun?: boolean; target?: string }>(async ({ output, loadConfig, docker, signal }, options) => {
        const loaded = await loadConfig();
        const target = targetOf(loaded, options.target, output);
        if (!options.dryRun) await reapFirst(output, await docker(), loaded, target);
        const result = await handOffPrune(await docker(), loaded, { dryRun: Boolean(options.dryRun), targetUrl: options.target, signal, ...jobListener(output) });
        output.result(result, [
          ...result.decisions.map((decision) => `${decision.keep ? "keep  " : options.dryRun ? "would delete" : "delete"} ${decision.id} ${decision.kind.padEnd(8)} ${decision.reasons.join(", ")}`),
          options.dryRun ? `dry run: nothing deleted (${result.walRemoved} archived WAL file(s) would go)` : `deleted ${result.deleted.length} backup(s) and ${result.walRemoved} archived WAL file(s) no kept backup needs; aborted ${result.abortedUploads} stale multipart upload(s)`,
        ]);
      }, { swarm: true }),
    );
}

export function registerRestore(program: Command): void {
  program
    .command("restore [id]")
    .description("restore a backup (default: the newest that fits) into a new server of the cluster (<cluster>-NAME); the source is never touched")
    .requiredOption("--as <name>", "name of the restored server (container <cluster>-NAME)")
    .option("--port <port>", "publish the restored server on this port (on primary.bind)")
    .option("--target <url>", "file://PATH or s3://bucket/prefix (default: backups.target)")
    .option("--to <time>", "point in time: replay archived WAL to this time (ISO 8601 with a zone); transactions committed at or before it are in")
    .option("--to-lsn <lsn>", "point in time: replay archived WAL to this WAL position")
    .option("--to-name <name>", "point in time: replay archived WAL to this restore point (pgfort restore-point NAME)")
    .option("--latest", "replay all archived WAL")
    .option("--reindex", "physical: a backup whose databases were sorted under another C library's collation rules is restored and its affected indexes rebuilt before the server takes writes, instead of refused")
    .option("--yes", "replace an existing server of that name without asking")
    .action(
      action<{ as: string; port?: string; target?: string; yes?: boolean; reindex?: boolean } & RecoveryFlags>(async ({ output, loadConfig, docker, signal }, options, id) => {
        const loaded = await loadConfig();
        const { config } = loaded;
        const node = options.as;
        validateReplicaName(node, (await readTopology(loaded.stateDir)).primary);
        const port = options.port === undefined ? undefined : Number(options.port);
        if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new ConfigError(`--port ${options.port} is not a port number`, "use 1-65535");
        const target = targetOf(loaded, options.target, output);
        const recovery = parseRecoveryFlags(options);
        const pitr = recovery ? await readWindow(target, config.cluster) : undefined;
        const entry = recovery && pitr ? chooseBase(pitr.entries, pitr.window, recovery, id) : await findBackup(target, config.cluster, id ?? "latest");
        if (recovery) output.info(`restoring from physical backup ${entry.id}, then replaying archived WAL to ${describeTarget(recovery)}`);
        const engine = await docker();
        await reapFirst(output, engine, loaded, target);
        const container = objectName(config.cluster, node);
        const existing = await engine.inspectContainerIfExists(container);
        if (existing) {
          const role = existing.Config.Labels?.["pgfort.role"];
          if (role !== "restore") throw new ConfigError(`${container} is a ${role ?? "foreign"} container, not a restored server`, "choose another --as name");
          await confirm(`replace the restored server ${container} and its data?`, options.yes);
          await removeRestored(engine, loaded, node);
        }
        const restored = await restoreBackup(engine, loaded, entry.manifest, {
          node,
          role: "restore",
          ...(port ? { port } : {}),
          recovery,
          reindex: Boolean(options.reindex),
          targetUrl: options.target,
          listener: jobListener(output),
          signal,
        });
        const reached = restored.recovery?.reached;
        output.result({ id: entry.id, ...restored }, [
          `restored ${entry.kind} backup ${entry.id} into ${restored.container}`,
          ...restored.checks.filter((check) => check.name === "collation").map((check) => `collation: ${check.detail}`),
          ...(restored.recovery && reached
            ? [
                `recovered to ${restored.recovery.target}${restored.recovery.replayedAll ? " (no later transaction was archived: all of the archive replayed)" : ""}${reached.stopLine ? `: ${reached.stopLine}` : ""}`,
                `last transaction replayed: ${reached.lastTransactionAt ?? "none after the backup"}; redo done at ${reached.redoDoneAt ?? "?"}; new timeline ${restored.recovery.timeline ?? "?"}`,
              ]
            : []),
          port ? `connect: host ${config.primary.bind}, port ${port}, user postgres (password: the cluster's, in .pgfort/${config.cluster}/secrets/postgres-password)` : `connect: docker exec -it ${restored.container} psql -U postgres`,
        ]);
      }),
    );
}
