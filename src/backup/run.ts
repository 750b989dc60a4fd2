// `pgfort backup run`: one throwaway container per file, its stdout streamed into the target
// (sha256 and sizes computed on the way), manifest.json written last. Any failure removes what
// was written, so nothing incomplete ever looks like a backup.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { BackupError, ContainerError, PgfortError } from "../errors";
import { queryRows, USER_DATABASES_QUERY } from "../cluster/sql";
import { readTopology } from "../cluster/topology";
import { objectName } from "../docker/labels";
import { VERSION } from "../version";
import { Measure, readJobResult } from "./job";
import { nameCorruptRelations, parseChecksumFailures } from "./corrupt-pages";
import { runThrowaway } from "../docker/throwaway";
import { backupDirectory, newBackupId, MANIFEST_FILE, type BackupKind } from "./layout";
import type { BackupFile, BackupManifest } from "./manifest";
import {
  BASEBACKUP_CREDENTIALS,
  DUMP_CREDENTIALS,
  compressionThreads,
  planJobContainer,
  planLogicalArtifacts,
  planPhysicalArtifact,
  type Artifact,
  type CompressionPlan,
  type LogicalMode,
} from "./plan";
import type { BackupTarget } from "./targets/target";
import { ensureReplicationRole } from "../replica/replication";
import { ensureSecrets, readSecret } from "../cluster/state";
import { SECRETS } from "../cluster/plan";

export interface BackupRequest {
  kind: BackupKind;
  databases?: string[];
  job?: string;
  logicalMode?: LogicalMode;
  onProgress?(progress: BackupProgress): void;
  /** Aborting it (Ctrl-C) kills the job containers, aborts the uploads and keeps nothing of the backup. */
  signal?: AbortSignal;
}

export interface BackupProgress {
  file: string;
  bytes: number;
  elapsedMs: number;
}

const DatabaseRow = z.object({ datname: z.string() });
const VersionRow = z.object({ server_version: z.string() });

export async function runBackup(docker: DockerClient, loaded: LoadedConfig, target: BackupTarget, request: BackupRequest): Promise<BackupManifest> {
  const { config, stateDir } = loaded;
  const { signal } = request;
  signal?.throwIfAborted();
  const topology = await readTopology(stateDir);
  const primary = objectName(config.cluster, topology.primary);
  if (!(await docker.inspectContainerIfExists(primary))?.State.Running) {
    throw new ContainerError(`the primary ${primary} is not running`, "start the cluster with pgfort up");
  }
  // Independent look-ups, at once: they are a backup's fixed cost, paid on every run.
  const [, , pgVersion, databases, engine] = await Promise.all([
    // Multipart uploads a crashed S3 left behind at an earlier failure: abort them now, not in 24 h.
    target.check().then(() => target.abortStaleUploads(new Date(Date.now() - 24 * 3_600_000))),
    request.kind === "physical"
      ? ensureSecrets(stateDir).then(async () => ensureReplicationRole(docker, primary, await readSecret(stateDir, SECRETS.replication.name)))
      : undefined,
    queryRows(docker, primary, "SELECT current_setting('server_version') AS server_version", VersionRow).then((rows) => rows[0]?.server_version ?? "unknown"),
    request.kind === "logical" ? databasesToDump(docker, primary, request.databases) : Promise.resolve([]),
    docker.engineInfo(),
  ]);
  const compression: CompressionPlan = {
    method: config.backups.compression,
    level: config.backups.compressionLevel,
    threads: compressionThreads(config.backups.resources.cpus, engine.cpus),
  };
  const startedAt = new Date();
  const id = newBackupId(startedAt, randomBytes(3).toString("hex"));
  const directory = backupDirectory(config.cluster, request.kind, id);
  const artifacts =
    request.kind === "logical"
      ? planLogicalArtifacts(databases, compression, request.logicalMode ?? "pipe")
      : [planPhysicalArtifact(compression, `pgfort ${id}`)];

  const written: string[] = [];
  const removals: Array<Promise<void>> = [];
  try {
    const files: BackupFile[] = [];
    const rowCounts: Record<string, Record<string, number>> = {};
    let wal: BackupManifest["wal"];
    // The globals are small: they are dumped alongside the first database instead of before it.
    const streamed = async (artifact: Artifact, index: number) => {
      const key = `${directory}${artifact.name}`;
      written.push(key);
      return {
        artifact,
        result: await streamArtifact(docker, loaded, target, key, artifact, {
          primaryNode: topology.primary,
          node: `backup-${id.slice(-6)}-${index}`,
          hostCpus: engine.cpus,
          onProgress: request.onProgress,
          signal,
          deferRemoval: (removal) => removals.push(removal),
        }),
      };
    };
    const [first, ...rest] = artifacts;
    const outcomes =
      first?.content === "globals"
        ? await settleAll(streamed(first, 0), sequentially(rest, (artifact, index) => streamed(artifact, index + 1)))
        : await sequentially(artifacts, streamed);
    for (const { artifact, result } of outcomes) {
      files.push(result.file);
      if (artifact.database !== undefined) rowCounts[artifact.database] = result.rowCounts ?? {};
      if (artifact.content === "base") wal = result.wal;
    }
    const manifest: BackupManifest = {
      formatVersion: 1,
      id,
      cluster: config.cluster,
      kind: request.kind,
      job: request.job ?? null,
      source: primary,
      files,
      pgVersion,
      databases,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      tool: { name: "pgfort", version: VERSION },
      compression: {
        method: request.kind === "logical" && request.logicalMode === "builtin" ? "pg_dump" : compression.method,
        level: compression.method === "none" ? null : compression.level,
      },
      ...(request.kind === "logical" ? { rowCounts } : {}),
      ...(wal ? { wal } : {}),
    };
    if (request.kind === "physical" && !wal) {
      throw new BackupError("pg_basebackup did not report its WAL start and end points", "rebuild the image (pgfort build): its pgfort-job reports them");
    }
    // Last: its presence is what makes the backup complete; an interrupted run never writes it.
    signal?.throwIfAborted();
    written.push(`${directory}${MANIFEST_FILE}`);
    await target.writeText(`${directory}${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } catch (error) {
    await target.remove(written).catch(() => undefined);
    throw error;
  } finally {
    // No throwaway container outlives the command.
    await Promise.allSettled(removals);
  }
}

async function sequentially<T, R>(items: readonly T[], work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const [index, item] of items.entries()) results.push(await work(item, index));
  return results;
}

/** Like Promise.all, but waits for every branch before rejecting, so no stream is left running. */
async function settleAll<R>(one: Promise<R>, others: Promise<R[]>): Promise<R[]> {
  const [single, many] = await Promise.allSettled([one, others]);
  if (single.status === "rejected") throw single.reason;
  if (many.status === "rejected") throw many.reason;
  return [single.value, ...many.value];
}

async function databasesToDump(docker: DockerClient, primary: string, requested: string[] | undefined): Promise<string[]> {
  const existing = (
    await queryRows(docker, primary, USER_DATABASES_QUERY, DatabaseRow)
  ).map((row) => row.datname);
  if (!requested || requested.length === 0) return existing;
  const missing = requested.filter((database) => !existing.includes(database));
  if (missing.length > 0) {
    throw new BackupError(
      `database ${missing.join(", ")} does not exist on ${primary}`,
      `dump one of: ${existing.join(", ")} (backups.jobs[].databases or --database)`,
    );
  }
  return requested;
}

interface StreamContext {
  primaryNode: string;
  node: string;
  hostCpus: number;
  onProgress: ((progress: BackupProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  deferRemoval: (removal: Promise<void>) => void;
}

async function streamArtifact(
  docker: DockerClient,
  loaded: LoadedConfig,
  target: BackupTarget,
  key: string,
  artifact: Artifact,
  context: StreamContext,
): Promise<{ file: BackupFile; rowCounts?: Record<string, number>; wal?: BackupManifest["wal"] }> {
  const started = Date.now();
  const measure = new Measure((bytes) => context.onProgress?.({ file: artifact.name, bytes, elapsedMs: Date.now() - started }));
  const create = planJobContainer(
    {
      config: loaded.config,
      primaryNode: context.primaryNode,
      role: "backup",
      node: context.node,
      hostCpus: context.hostCpus,
      credentials: artifact.content === "base" ? BASEBACKUP_CREDENTIALS : DUMP_CREDENTIALS,
    },
    artifact.program,
  );
  const pending = await target.write(key);
  let job;
  try {
    job = await runThrowaway(docker, { create, stdout: [measure, pending.stream], signal: context.signal, deferRemoval: context.deferRemoval });
  } catch (error) {
    // Interrupted: no waiting for the target to explain itself, only its abort (no partial file,
    // no open multipart upload).
    const targetFailure = context.signal?.aborted ? undefined : await pending.failure();
    await pending.abort();
    if (context.signal?.aborted) throw context.signal.reason;
    if (targetFailure) throw targetFailure;
    throw error instanceof PgfortError
      ? error
      : new BackupError(`streaming ${artifact.name} failed: ${(error as Error).message}`, "check the target and the cluster, then run the backup again", { cause: error });
  }
  const tool = artifact.content === "base" ? "pg_basebackup" : artifact.content === "globals" ? "pg_dumpall" : "pg_dump";
  if (job.exitCode !== 0) {
    await pending.abort();
    const stderr = job.stderr.toString();
    const corrupt = artifact.content === "base" ? parseChecksumFailures(stderr) : [];
    if (corrupt.length > 0) {
      const relations = await nameCorruptRelations(docker, objectName(loaded.config.cluster, context.primaryNode), corrupt);
      throw new BackupError(
        `pg_basebackup found pages that fail their data checksums in ${relations.join("; ")}: nothing was kept of this backup`,
        "the primary's data is damaged there: REINDEX a damaged index; restore a damaged table from an earlier backup (pgfort restore ID --as NAME), and check the disk",
      );
    }
    throw new BackupError(`${tool} for ${artifact.name} failed (exit ${job.exitCode}): ${job.stderr.lastLines(6) || "no output"}`, explainToolFailure(stderr));
  }
  let result;
  try {
    result = readJobResult(job.result, `${tool} for ${artifact.name}`);
  } catch (error) {
    await pending.abort();
    throw error;
  }
  await pending.commit();
  return {
    file: {
      name: artifact.name,
      content: artifact.content,
      ...(artifact.database !== undefined ? { database: artifact.database } : {}),
      bytes: measure.bytes,
      rawBytes: result.rawBytes ?? null,
      sha256: measure.sha256(),
      compression: artifact.compression,
    },
    ...(result.rowCounts ? { rowCounts: result.rowCounts } : {}),
    ...(result.wal ? { wal: result.wal } : {}),
  };
}

function explainToolFailure(stderr: string): string {
  if (/has already been removed/.test(stderr)) {
    return "the primary recycled WAL the backup still needed: raise wal_keep_size (primary.settings) or take the backup when less is written";
  }
  if (/does not exist/.test(stderr)) return "check the database names of the job";
  if (/could not connect|Connection refused|could not translate host name|terminating connection|server closed the connection/i.test(stderr)) {
    return "the primary went away during the backup: check it with pgfort status, then run the backup again";
  }
  if (/password authentication failed/.test(stderr)) return "the superuser password in .pgfort/<cluster>/secrets does not match the server's";
  return "read the tool's message above; nothing was kept of this backup";
}
