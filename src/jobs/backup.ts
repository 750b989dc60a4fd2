// The backup engine, inside a container of the agent image: each file's tool runs as a child
// process (a pgfort-job verb), its stdout piped with backpressure through the sha256/byte counter
// into the target; manifest.json is written last. Any failure, and an abort, removes what was
// written, so nothing incomplete ever looks like a backup.
import { createHash, randomBytes } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { z } from "zod";
import type { Config } from "../config/schema";
import { BackupError, ConfigError, PgfortError } from "../errors";
import { USER_DATABASES_QUERY } from "../cluster/sql";
import { VERSION } from "../version";
import { Measure, readJobResult } from "../backup/job";
import { nameCorruptRelations, parseChecksumFailures } from "../backup/corrupt-pages";
import { backupDirectory, compressionSuffix, newBackupId, MANIFEST_FILE, type BackupKind } from "../backup/layout";
import type { BackupFile, BackupManifest } from "../backup/manifest";
import {
  BASEBACKUP_CREDENTIALS,
  DUMP_CREDENTIALS,
  compressionThreads,
  planLogicalArtifacts,
  planPhysicalArtifact,
  type Artifact,
  type CompressionPlan,
  type LogicalMode,
} from "../backup/plan";
import type { BackupTarget } from "../backup/targets/target";
import { ensureReplicationRole } from "./replication-role";
import type { JobRuntime } from "./runtime";
import { explainToolFailure, toolOf } from "./tool-failure";
import { chooseParent, pgManifestFile, pgManifestName } from "../backup/incremental";
import { listBackups } from "../backup/catalog";
import { DATA_DIR } from "../cluster/plan";
import { parallelUnavailable, runParallelBase } from "./parallel-backup";
import { COLLATION_RECORD_QUERY, CollationRecordSchema, type CollationRecord } from "../collation/versions";

export interface BackupRequest {
  kind: BackupKind;
  databases?: readonly string[] | undefined;
  job?: string | undefined;
  logicalMode?: LogicalMode;
  /** Physical, 17+: against the newest physical backup, unless its chain already holds fullEvery. */
  incremental?: { fullEvery: number } | undefined;
  onProgress?(progress: BackupProgress): void;
  onInfo?(message: string): void;
  /** Aborting it (SIGTERM, the host's Ctrl-C) kills the programs, aborts the uploads and keeps nothing of the backup. */
  signal?: AbortSignal | undefined;
}

export interface BackupProgress {
  file: string;
  bytes: number;
  elapsedMs: number;
}

const DatabaseRow = z.object({ datname: z.string() });
const VersionRow = z.object({ server_version: z.string() });

export async function runBackupJob(runtime: JobRuntime, config: Config, target: BackupTarget, request: BackupRequest): Promise<BackupManifest> {
  const { signal } = request;
  signal?.throwIfAborted();
  if (request.incremental && request.kind !== "physical") throw new ConfigError("incremental backups are physical", "pass --kind physical with --incremental; a logical dump is always whole");
  const { primary } = runtime;
  // Independent look-ups, at once: they are a backup's fixed cost, paid on every run.
  const [, , pgVersion, databases, collation, physical] = await Promise.all([
    // Multipart uploads a crashed S3 left behind at an earlier failure: abort them now, not in 24 h.
    target.check().then(() => target.abortStaleUploads(new Date(Date.now() - 24 * 3_600_000))),
    request.kind === "physical" ? ensureReplicationRole(primary, runtime.secretsDir) : undefined,
    primary.query("SELECT current_setting('server_version') AS server_version", VersionRow).then((rows) => rows[0]?.server_version ?? "unknown"),
    request.kind === "logical" ? databasesToDump(runtime, request.databases) : Promise.resolve([]),
    primary.query(COLLATION_RECORD_QUERY, CollationRecordSchema).then((rows): CollationRecord | undefined => rows[0]),
    request.kind === "physical" ? planPhysical(runtime, target, config.cluster, request, Boolean(config.backups.encryption)) : undefined,
  ]);
  const compression: CompressionPlan = {
    method: config.backups.compression,
    level: config.backups.compressionLevel,
    threads: compressionThreads(config.backups.resources.cpus, runtime.cpus),
  };
  const startedAt = new Date();
  const id = newBackupId(startedAt, randomBytes(3).toString("hex"));
  const directory = backupDirectory(config.cluster, request.kind, id);
  const encryption = config.backups.encryption ? { recipients: config.backups.encryption.recipients } : undefined;
  // Incrementals (and their chain's full) are pg_basebackup's: it keeps the manifest they build on.
  const parallel = request.kind === "physical" && !request.incremental ? await parallelEngine(runtime, config, request) : undefined;
  const artifacts =
    request.kind === "logical"
      ? planLogicalArtifacts(databases, compression, request.logicalMode ?? "pipe", encryption)
      : parallel
        ? []
        : [withParent(planPhysicalArtifact(compression, `pgfort ${id}`, encryption), physical)];

  const written: string[] = [];
  try {
    const files: BackupFile[] = [];
    const rowCounts: Record<string, Record<string, number>> = {};
    let wal: BackupManifest["wal"];
    const streamed = async (artifact: Artifact) => {
      const key = `${directory}${artifact.name}`;
      written.push(key);
      const result = await streamArtifact(runtime, target, key, artifact, request, physical?.inputs);
      // 17+: the base's backup_manifest, as its own file, for the next incremental to name.
      if (result.pgManifest) {
        const name = pgManifestName(compressionSuffix(compression.method));
        written.push(`${directory}${name}`);
        await target.writeText(`${directory}${name}`, result.pgManifest);
        files.push({ name, content: "pg-manifest", bytes: result.pgManifest.length, rawBytes: null, sha256: createHash("sha256").update(result.pgManifest).digest("hex"), compression: compression.method });
      }
      return { artifact, result };
    };
    // The globals are small: they are dumped alongside the first database instead of before it.
    const [first, ...rest] = artifacts;
    const outcomes = first?.content === "globals" ? await settleAll(streamed(first), sequentially(rest, streamed)) : await sequentially(artifacts, streamed);
    for (const { artifact, result } of outcomes) {
      files.push(result.file);
      if (artifact.database !== undefined) rowCounts[artifact.database] = result.rowCounts ?? {};
      if (artifact.content === "base") wal = result.wal;
    }
    if (parallel) {
      const base = await runParallelBase({ runtime, target, directory, label: `pgfort ${id}`, compression, encryption, workers: parallel.workers, dataDir: parallel.dataDir, written, signal, onInfo: request.onInfo, onProgress: request.onProgress });
      files.push(...base.files);
      wal = base.wal;
    }
    if (request.kind === "physical" && !wal) {
      throw new BackupError("pg_basebackup did not report its WAL start and end points", "rebuild the image (pgfort build): its pgfort-job reports them");
    }
    const manifest: BackupManifest = {
      formatVersion: 1,
      id,
      cluster: config.cluster,
      kind: request.kind,
      job: request.job ?? null,
      source: primary.host,
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
      ...(encryption ? { encryption: { method: "age" as const, recipients: [...encryption.recipients] } } : {}),
      ...(wal ? { wal } : {}),
      ...(request.kind === "physical" ? { engine: parallel ? ("parallel" as const) : ("basebackup" as const) } : {}),
      ...(physical?.keepManifest && !parallel ? { parent: physical.parent?.id ?? null } : {}),
      ...(collation ? { collation } : {}),
    };
    // Last: its presence is what makes the backup complete; an interrupted run never writes it.
    signal?.throwIfAborted();
    written.push(`${directory}${MANIFEST_FILE}`);
    await target.writeText(`${directory}${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } catch (error) {
    await target.remove(written).catch(() => undefined);
    throw signal?.aborted ? signal.reason : error;
  }
}

async function sequentially<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await work(item));
  return results;
}

/**
 * Like Promise.all, but waits for every branch before rejecting, so no program is left running.
 * When both fail (the server died under both), the databases' failure is the one reported: it
 * names the dump the user asked for, the globals' is its side effect.
 */
async function settleAll<R>(one: Promise<R>, others: Promise<R[]>): Promise<R[]> {
  const [single, many] = await Promise.allSettled([one, others]);
  if (many.status === "rejected") throw many.reason;
  if (single.status === "rejected") throw single.reason;
  return [single.value, ...many.value];
}

async function databasesToDump(runtime: JobRuntime, requested: readonly string[] | undefined): Promise<string[]> {
  const existing = (await runtime.primary.query(USER_DATABASES_QUERY, DatabaseRow)).map((row) => row.datname);
  if (!requested || requested.length === 0) return existing;
  const missing = requested.filter((database) => !existing.includes(database));
  if (missing.length > 0) {
    throw new BackupError(
      `database ${missing.join(", ")} does not exist on ${runtime.primary.host}`,
      `dump one of: ${existing.join(", ")} (backups.jobs[].databases or --database)`,
    );
  }
  return [...requested];
}

async function streamArtifact(
  runtime: JobRuntime,
  target: BackupTarget,
  key: string,
  artifact: Artifact,
  request: BackupRequest,
  inputs?: Record<string, Buffer>,
): Promise<{ file: BackupFile; rowCounts?: Record<string, number>; wal?: BackupManifest["wal"]; pgManifest?: Buffer }> {
  const { signal } = request;
  const started = Date.now();
  const measure = new Measure((bytes) => request.onProgress?.({ file: artifact.name, bytes, elapsedMs: Date.now() - started }));
  const pending = await target.write(key);
  let job;
  try {
    job = await runtime.runProgram({
      program: artifact.program,
      credentials: artifact.content === "base" ? BASEBACKUP_CREDENTIALS : DUMP_CREDENTIALS,
      stdout: [measure, pending.stream],
      signal,
      ...(artifact.content === "base" ? { inputs: inputs ?? {}, outputs: [PG_MANIFEST_OUTPUT] } : {}),
    });
  } catch (error) {
    // Interrupted: no waiting for the target to explain itself, only its abort (no partial file,
    // no open multipart upload).
    const targetFailure = signal?.aborted ? undefined : await pending.failure();
    await pending.abort();
    if (signal?.aborted) throw signal.reason;
    if (targetFailure) throw targetFailure;
    throw error instanceof PgfortError
      ? error
      : new BackupError(`streaming ${artifact.name} failed: ${(error as Error).message}`, "check the target and the cluster, then run the backup again", { cause: error });
  }
  const tool = toolOf(artifact.content);
  if (job.exitCode !== 0) {
    await pending.abort();
    const stderr = job.stderr.toString();
    const corrupt = artifact.content === "base" ? parseChecksumFailures(stderr) : [];
    if (corrupt.length > 0) {
      const relations = await nameCorruptRelations(runtime.queryIn, corrupt);
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
      // Uncompressed and unencrypted, what was stored is what the tool wrote; else the compressor's own count.
      rawBytes: result.rawBytes ?? (artifact.compression === "none" && !artifact.encrypted ? measure.bytes : null),
      sha256: measure.sha256(),
      compression: artifact.compression,
      ...(artifact.encrypted ? { encryption: "age" as const } : {}),
    },
    ...(result.rowCounts ? { rowCounts: result.rowCounts } : {}),
    ...(result.wal ? { wal: result.wal } : {}),
    ...(result.pgManifest ? { pgManifest: await keptManifest(job.outputs, artifact.name) } : {}),
  };
}

/** The program's PGFORT_TMP file that holds the stored form of the base's backup_manifest. */
const PG_MANIFEST_OUTPUT = "backup_manifest.stored";
const PARENT_MANIFEST_INPUT = "parent_manifest.stored";

async function keptManifest(outputs: Record<string, Buffer>, name: string): Promise<Buffer> {
  const bytes = outputs[PG_MANIFEST_OUTPUT];
  if (!bytes || bytes.length === 0) throw new BackupError(`pg_basebackup for ${name} reported a backup_manifest but left none`, "rebuild the image (pgfort build): its pgfort-job keeps it");
  return bytes;
}

const PhysicalFactsRow = z.object({ version_num: z.number(), summarize_wal: z.string().nullable(), timeline: z.number(), summary_keep_minutes: z.number().nullable() });

interface PhysicalPlan {
  /** 17+: keep the base's backup_manifest (every physical backup can be a parent). */
  keepManifest: boolean;
  parent: BackupManifest | null;
  /** The parent's stored backup_manifest, for the program's PGFORT_TMP. */
  inputs: Record<string, Buffer>;
  parentDecompression?: string;
}

/** Full or incremental, and against which parent (src/backup/incremental.ts decides). */
async function planPhysical(runtime: JobRuntime, target: BackupTarget, cluster: string, request: BackupRequest, encrypted: boolean): Promise<PhysicalPlan> {
  const [facts] = await runtime.primary.query(
    "SELECT current_setting('server_version_num')::int AS version_num, current_setting('summarize_wal', true) AS summarize_wal, (SELECT timeline_id FROM pg_control_checkpoint())::int AS timeline, (SELECT setting::int FROM pg_settings WHERE name = 'wal_summary_keep_time') AS summary_keep_minutes",
    PhysicalFactsRow,
  );
  // Encrypted backups keep no plain file: their incrementals would need the parent's manifest
  // readable without the private key, which pgfort does not do yet.
  const keepManifest = (facts?.version_num ?? 0) >= 170000 && !encrypted;
  if (request.incremental && encrypted) {
    throw new BackupError("incremental backups are not taken with backups.encryption: the parent's backup_manifest would have to be stored unencrypted", "take full physical backups (drop incremental from the job) while backups are encrypted");
  }
  if (!request.incremental) return { keepManifest, parent: null, inputs: {} };
  if (!keepManifest) {
    throw new BackupError(
      `incremental backups need PostgreSQL 17 or later: the primary runs ${Math.floor((facts?.version_num ?? 0) / 10000)}`,
      "take full physical backups (drop incremental from the job), or run the cluster on image.pgMajor: 17",
    );
  }
  if (facts?.summarize_wal !== "on") {
    throw new BackupError("the primary's summarize_wal is off: an incremental backup reads the WAL summaries it writes", "run pgfort up (or pgfort config apply): pgfort turns summarize_wal on for PostgreSQL 17");
  }
  const choice = chooseParent(await listBackups(target, cluster), { fullEvery: request.incremental.fullEvery, timeline: facts.timeline, summaryKeepMinutes: facts.summary_keep_minutes });
  if (!choice.parent) {
    request.onInfo?.(`taking a full backup: ${choice.why}`);
    return { keepManifest, parent: null, inputs: {} };
  }
  const file = pgManifestFile(choice.parent);
  if (!file) throw new BackupError(`backup ${choice.parent.id} has no backup_manifest`, "take a full backup");
  const bytes = await buffer(await target.read(`${backupDirectory(cluster, "physical", choice.parent.id)}${file.name}`));
  if (createHash("sha256").update(bytes).digest("hex") !== file.sha256) {
    throw new BackupError(`the backup_manifest of backup ${choice.parent.id} does not match its sha256`, "the parent is damaged: take a full backup (run without incremental once), and verify the chain");
  }
  request.onInfo?.(`taking an incremental backup against ${choice.parent.id} (chain of ${choice.chainLength}, fullEvery ${request.incremental.fullEvery})`);
  return { keepManifest, parent: choice.parent, inputs: { [PARENT_MANIFEST_INPUT]: bytes }, parentDecompression: file.compression };
}

/**
 * The parallel engine's workers and the data directory it reads, when backups.physical.engine is
 * parallel and the primary's data volume is mounted here; otherwise undefined, after a line saying
 * why pg_basebackup takes the backup instead.
 */
async function parallelEngine(runtime: JobRuntime, config: Config, request: BackupRequest): Promise<{ workers: number; dataDir: string } | undefined> {
  const { engine, workers } = config.backups.physical;
  if (engine !== "parallel") return undefined;
  // Where the agent and a one-off backup container mount the primary's data volume (read-only).
  const dataDir = DATA_DIR;
  const why = await parallelUnavailable(runtime, dataDir);
  if (why) {
    request.onInfo?.(`backups.physical.engine is parallel, but ${why}: taking the backup with pg_basebackup instead`);
    return undefined;
  }
  return { workers: workers ?? compressionThreads(config.backups.resources.cpus, runtime.cpus), dataDir };
}

/** The base artifact with what its program needs to keep the manifest and build on the parent. */
function withParent(artifact: Artifact, physical: PhysicalPlan | undefined): Artifact {
  if (!physical?.keepManifest) return artifact;
  const env: Record<string, string> = { ...artifact.program.env, PGFORT_KEEP_MANIFEST: "1" };
  if (physical.parent) Object.assign(env, { PGFORT_PARENT_MANIFEST: PARENT_MANIFEST_INPUT, PGFORT_PARENT_DECOMPRESSION: physical.parentDecompression ?? "none" });
  return { ...artifact, program: { ...artifact.program, env } };
}
