// The parallel physical engine (issue 15): the primary's data volume, mounted read-only into the
// job's container, read by N workers under PostgreSQL's low-level backup API. One session holds
// pg_backup_start for the whole copy (with a temporary slot that keeps the WAL); the files go in
// balanced bundles, each a tar written here (every page of a relation file checked against its
// data checksum on the way, a failing page read again before it counts) and compressed and
// encrypted by a pgfort-job child, streamed to the target with its sha256. pg_backup_stop comes
// last; its backup_label, global/pg_control, the WAL from start to stop and a PostgreSQL
// backup_manifest form the last bundle, so a restore is `tar -x` of every bundle, in any order.
import { execFile } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { Worker } from "node:worker_threads";
import path from "node:path";
import { z } from "zod";
import { BackupError } from "../errors";
import { Measure, readJobResult } from "../backup/job";
import { compressionSuffix, ENCRYPTION_SUFFIX } from "../backup/layout";
import type { BackupFile, BackupManifest } from "../backup/manifest";
import { compressionEnv, type CompressionPlan, type EncryptionPlan } from "../backup/plan";
import type { BackupTarget } from "../backup/targets/target";
import { nameCorruptRelations } from "../backup/corrupt-pages";
import { lsnNumber } from "../backup/page-checksum";
import { isExcluded, planBundles, unloggedLeftOut, walFilesBetween, type SourceEntry } from "../backup/source-files";
import type { BundleOutcome, BundleWork, MemoryEntry } from "./bundle-worker";
import { renderPgBackupManifest, type ManifestFile } from "../backup/pg-backup-manifest";
import { runChildProgram } from "./child-program";
import { inParallel } from "./in-parallel";
import type { JobRuntime } from "./runtime";
import type { BackupProgress } from "./backup";

/** A bundle is at most this large unless one file is (relation segments are 1 GiB). */
export const MAX_BUNDLE_BYTES = 1024 ** 3;
const WORKER_HEAP = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 };
/** The last bundle: backup_label, pg_control, the WAL, backup_manifest. */
const LAST_BUNDLE = "last";

export interface ParallelBaseRequest {
  runtime: JobRuntime;
  target: BackupTarget;
  /** The backup's directory in the target (trailing slash). */
  directory: string;
  label: string;
  compression: CompressionPlan;
  encryption: EncryptionPlan;
  workers: number;
  /** The primary's data directory as mounted here, read-only. */
  dataDir: string;
  /** Every key written, for the caller's cleanup. */
  written: string[];
  onProgress?(progress: BackupProgress): void;
  onInfo?(message: string): void;
  signal?: AbortSignal | undefined;
}

export interface ParallelBaseResult {
  files: BackupFile[];
  wal: NonNullable<BackupManifest["wal"]>;
}

const IdentityRow = z.object({ system_identifier: z.string(), checkpoint_lsn: z.string() });

/** pg_control's system identifier and last checkpoint, as the server prints them. */
function controlFacts(control: Buffer): { systemIdentifier: string; checkpointLsn: string } {
  const checkpoint = control.readBigUInt64LE(32);
  const hex = (value: bigint) => value.toString(16).toUpperCase();
  return { systemIdentifier: control.readBigUInt64LE(0).toString(), checkpointLsn: `${hex(checkpoint >> 32n)}/${hex(checkpoint & 0xffffffffn)}` };
}

/**
 * Why the engine cannot read the running primary's data directory at `dataDir`, or undefined when
 * it can: the volume is mounted, is this cluster's (system identifier), is the live one (its
 * pg_control holds the primary's last checkpoint, not a former primary's), and has no tablespace
 * elsewhere.
 */
export async function parallelUnavailable(runtime: JobRuntime, dataDir: string): Promise<string | undefined> {
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    const control = await readFile(path.join(dataDir, "global", "pg_control")).catch(() => undefined);
    if (!control) return `the primary's data volume is not mounted in this container (no ${dataDir}/global/pg_control)`;
    const [server] = await runtime.primary.query("SELECT system_identifier::text AS system_identifier, (SELECT checkpoint_lsn::text FROM pg_control_checkpoint()) AS checkpoint_lsn FROM pg_control_system()", IdentityRow);
    const mounted = controlFacts(control);
    if (!server) return "the primary did not say its system identifier";
    if (mounted.systemIdentifier !== server.system_identifier) return `the data volume mounted at ${dataDir} is another cluster's (system identifier ${mounted.systemIdentifier}, the primary's ${server.system_identifier})`;
    if (mounted.checkpointLsn === server.checkpoint_lsn) {
      const tablespaces = await readdir(path.join(dataDir, "pg_tblspc")).catch(() => []);
      return tablespaces.length > 0 ? `the primary has tablespaces outside its data volume (pg_tblspc: ${tablespaces.join(", ")})` : undefined;
    }
    if (attempt === attempts) return `the data volume mounted at ${dataDir} is not the running primary's (its last checkpoint is ${mounted.checkpointLsn}, the primary's ${server.checkpoint_lsn}): a former primary's volume`;
    // A checkpoint may have ended between the two reads: ask again.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const StartRow = z.object({ lsn: z.string() });
const StopRow = z.object({ lsn: z.string(), labelfile: z.string(), spcmapfile: z.string().nullable() });
const FactsRow = z.object({ bytes: z.string(), checksums: z.string() });

export async function runParallelBase(request: ParallelBaseRequest): Promise<ParallelBaseResult> {
  const { runtime, dataDir, signal } = request;
  const primary = runtime.primary;
  const slot = `pgfort_backup_${process.pid}_${Date.now().toString(36)}`;
  // A temporary slot from before the start keeps every WAL file the backup needs until it is copied.
  const slotMade = await primary
    .query("SELECT 1 AS made FROM pg_create_physical_replication_slot($1, true, true)", z.object({ made: z.number() }), [slot])
    .then(() => true)
    .catch((error: Error) => {
      request.onInfo?.(`no temporary replication slot for the backup (${error.message}): the WAL it needs is kept only as long as the server keeps it anyway`);
      return false;
    });
  let started = false;
  try {
    const [facts] = await primary.query("SELECT current_setting('data_checksums') AS checksums, (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS bytes", FactsRow);
    const segmentBytes = Number(facts?.bytes ?? 16 * 1024 * 1024);
    // Without data checksums (a cluster made without them) there is nothing to verify, as for pg_basebackup.
    const checkPages = facts?.checksums === "on";
    const [start] = await primary.query("SELECT pg_backup_start($1, true)::text AS lsn", StartRow, [request.label]);
    if (!start) throw new BackupError("pg_backup_start returned nothing", "check the primary's log");
    started = true;
    const pages: PageCheck = { startLsn: lsnNumber(start.lsn), checkPages };
    const entries = await walkDataDirectory(dataDir);
    const directories = entries.filter((entry) => entry.type === "directory");
    const files = entries.filter((entry) => entry.type === "file" && entry.path !== "global/pg_control");
    const bundles = planBundles(files, request.workers, MAX_BUNDLE_BYTES);
    request.onInfo?.(`parallel engine: ${files.length} files (${(files.reduce((sum, file) => sum + file.size, 0) / 1024 ** 2).toFixed(0)} MiB) in ${bundles.length} bundles, ${request.workers} workers`);
    const bundled = await inParallel(
      bundles.map((bundle, index) => ({ name: bundleName(String(index + 1), request), entries: index === 0 ? [...directories, ...bundle.files] : bundle.files })),
      request.workers,
      (bundle, workSignal) => streamBundle(request, bundle.name, workSignal, bundle.entries, pages),
      signal,
    );
    const damaged = bundled.flatMap(({ outcome }) => outcome.damaged);
    if (damaged.length > 0) {
      const failures = damaged.map(({ file, block }) => {
        const [, databaseOid = "0", filenode = "0"] = /^base\/(\d+)\/(\d+)/.exec(file) ?? [];
        return { file, block, databaseOid: Number(databaseOid), filenode: Number(filenode) };
      });
      const relations = await nameCorruptRelations(runtime.queryIn, failures);
      throw new BackupError(
        `pages fail their data checksums in ${relations.join("; ")}: nothing was kept of this backup`,
        "the primary's data is damaged there: REINDEX a damaged index; restore a damaged table from an earlier backup (pgfort restore ID --as NAME), and check the disk",
      );
    }
    // pg_control last of the data files, as pg_basebackup copies it.
    const control = await readFile(path.join(dataDir, "global", "pg_control"));
    const controlStat = await lstat(path.join(dataDir, "global", "pg_control"));
    const [stop] = await primary.query("SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)", StopRow);
    started = false;
    if (!stop) throw new BackupError("pg_backup_stop returned nothing", "check the primary's log");
    const timeline = Number(/^START TIMELINE: (\d+)$/m.exec(stop.labelfile)?.[1] ?? Number.parseInt(/\(file ([0-9A-F]{8})/.exec(stop.labelfile)?.[1] ?? "1", 16));
    const wal = { startLsn: start.lsn, endLsn: stop.lsn, timeline: Number.isFinite(timeline) ? timeline : 1 };
    const now = Date.now();
    const memory = (file: string, content: Buffer, mtimeMs = now): MemoryEntry => ({ path: file, type: "memory", content, mode: 0o600, mtimeMs });
    const finals = [memory("backup_label", Buffer.from(stop.labelfile)), memory("global/pg_control", control, controlStat.mtimeMs)];
    if (stop.spcmapfile) finals.push(memory("tablespace_map", Buffer.from(stop.spcmapfile)));
    const copied: ManifestFile[] = [...bundled.flatMap(({ outcome }) => outcome.copied), ...finals.map((entry) => ({ path: entry.path, size: entry.content.length, mtimeMs: entry.mtimeMs }))];
    const manifest = memory("backup_manifest", Buffer.from(renderPgBackupManifest(copied.sort((a, b) => a.path.localeCompare(b.path)), wal)));
    const histories = (await readdir(path.join(dataDir, "pg_wal")).catch(() => [] as string[])).filter((name) => /^[0-9A-F]{8}\.history$/.test(name));
    const walEntries = await Promise.all(
      [...histories, ...walFilesBetween(lsnNumber(wal.startLsn), lsnNumber(wal.endLsn), wal.timeline, segmentBytes)].map(async (name): Promise<SourceEntry> => {
        const stat = await lstat(path.join(dataDir, "pg_wal", name)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
          throw new BackupError(`WAL file ${name}, which the backup needs, was removed before it was copied`, "free a replication slot (max_replication_slots) or raise wal_keep_size, then run the backup again");
        });
        return { path: `pg_wal/${name}`, type: "file", size: stat.size, mode: 0o600, mtimeMs: stat.mtimeMs };
      }),
    );
    const last = await streamBundle(request, bundleName(LAST_BUNDLE, request), signal ?? new AbortController().signal, [...finals, ...walEntries, manifest], pages);
    const missing = walEntries.filter((entry) => !last.outcome.copied.some((file) => file.path === entry.path));
    if (missing.length > 0) throw new BackupError(`WAL file ${missing.map((entry) => entry.path).join(", ")} was removed while it was copied`, "free a replication slot (max_replication_slots) or raise wal_keep_size, then run the backup again");
    return { files: [...bundled.map(({ file }) => file), last.file], wal };
  } finally {
    if (started) await primary.query("SELECT 1 AS stopped FROM pg_backup_stop(false)", z.object({ stopped: z.number() })).catch(() => undefined);
    if (slotMade) await primary.query("SELECT pg_drop_replication_slot($1)", z.unknown(), [slot]).catch(() => undefined);
  }
}

function bundleName(which: string, request: ParallelBaseRequest): string {
  return `base.${which}.tar${compressionSuffix(request.compression.method)}${request.encryption ? ENCRYPTION_SUFFIX : ""}`;
}

/** Every entry of the data directory a base backup copies (src/backup/source-files.ts decides). */
async function walkDataDirectory(root: string): Promise<SourceEntry[]> {
  const entries: SourceEntry[] = [];
  const visit = async (relative: string) => {
    const names = await readdir(path.join(root, relative)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [] as string[];
      throw error;
    });
    for (const name of names.sort()) {
      const child = relative ? `${relative}/${name}` : name;
      if (isExcluded(child)) continue;
      const stat = await lstat(path.join(root, child)).catch(() => undefined);
      if (!stat) continue; // gone since the listing: WAL replay recreates what matters
      if (stat.isSymbolicLink()) {
        // pg_wal points at the WAL volume: a directory in the backup, with its subdirectories.
        if (child !== "pg_wal") continue;
        entries.push({ path: "pg_wal", type: "directory", size: 0, mode: 0o700, mtimeMs: stat.mtimeMs });
        for (const sub of ["archive_status", "summaries"]) {
          const inner = await lstat(path.join(root, "pg_wal", sub)).catch(() => undefined);
          if (inner?.isDirectory()) entries.push({ path: `pg_wal/${sub}`, type: "directory", size: 0, mode: 0o700, mtimeMs: inner.mtimeMs });
        }
      } else if (stat.isDirectory()) {
        entries.push({ path: child, type: "directory", size: 0, mode: stat.mode, mtimeMs: stat.mtimeMs });
        await visit(child);
      } else if (stat.isFile()) {
        entries.push({ path: child, type: "file", size: stat.size, mode: stat.mode, mtimeMs: stat.mtimeMs });
      }
    }
  };
  await visit("");
  const unlogged = unloggedLeftOut(entries.filter((entry) => entry.type === "file").map((entry) => entry.path));
  return entries.filter((entry) => !unlogged.has(entry.path));
}

/** How the workers check pages: those older than the backup's start, when the cluster has data checksums. */
type PageCheck = Pick<BundleWork, "startLsn" | "checkPages">;

/**
 * One bundle: a worker thread (bundle-worker.ts) writes its tar into a FIFO that a compress-stdin
 * child reads; the child's output goes through the sha256 into the target. A child that dies
 * before it opened the FIFO would leave the worker blocked in open(): its exit opens the FIFO's
 * read end once, so the worker's writes fail instead. The compressor's own failure is the one
 * reported (the worker then only saw EPIPE).
 */
async function streamBundle(request: ParallelBaseRequest, name: string, signal: AbortSignal, entries: BundleWork["entries"], pages: PageCheck): Promise<{ file: BackupFile; outcome: BundleOutcome }> {
  const key = `${request.directory}${name}`;
  request.written.push(key);
  const started = Date.now();
  const measure = new Measure((bytes) => request.onProgress?.({ file: name, bytes, elapsedMs: Date.now() - started }));
  const scratch = await mkdtemp(path.join(tmpdir(), "pgfort-bundle-"));
  const fifo = path.join(scratch, "tar");
  const pending = await request.target.write(key, { alongside: request.workers });
  let worker: Worker | undefined;
  try {
    await makeFifo(fifo);
    const work: BundleWork = { dataDir: request.dataDir, fifo, ...pages, entries };
    // The worker allocates next to nothing in JavaScript (one reused buffer): a small heap keeps
    // each thread's share of the job's memory small.
    worker = new Worker(path.join(__dirname, "bundle-worker.js"), { workerData: work, resourceLimits: WORKER_HEAP });
    const written = workerOutcome(worker);
    const compressing = runChildProgram(
      { verb: "compress-stdin", env: { ...compressionEnv({ ...request.compression, threads: 1 }, request.encryption), PGFORT_INPUT: fifo } },
      { stdout: [measure, pending.stream], signal },
    ).finally(() => unblockWriter(fifo));
    const [compressed, read] = await Promise.allSettled([compressing, written]);
    if (compressed.status === "rejected") throw compressed.reason;
    const run = compressed.value;
    if (run.exitCode !== 0) throw new BackupError(`compressing ${name} failed (exit ${run.exitCode}): ${run.stderr.lastLines(6) || "no output"}`, "check backups.compression and backups.encryption, then run the backup again");
    if (read.status === "rejected") throw read.reason;
    const outcome = read.value;
    const result = readJobResult(run.result, `compressing ${name}`);
    await pending.commit();
    const { method } = request.compression;
    const file: BackupFile = {
      name,
      content: "base",
      bytes: measure.bytes,
      rawBytes: result.rawBytes ?? (method === "none" && !request.encryption ? measure.bytes : outcome.tarBytes),
      sha256: measure.sha256(),
      compression: method,
      ...(request.encryption ? { encryption: "age" as const } : {}),
    };
    return { file, outcome };
  } catch (error) {
    const targetFailure = signal.aborted ? undefined : await pending.failure();
    await pending.abort();
    throw signal.aborted ? signal.reason : (targetFailure ?? error);
  } finally {
    unblockWriter(fifo);
    await worker?.terminate();
    await rm(scratch, { recursive: true, force: true });
  }
}

function makeFifo(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("mkfifo", ["-m", "0600", file], (error, _stdout, stderr) => (error ? reject(new BackupError(`mkfifo ${file} failed: ${stderr || error.message}`, "the job's /tmp must be writable")) : resolve()));
  });
}

/** Opens and closes the FIFO's read end without blocking: a writer stuck in open() goes on (and fails on EPIPE). */
function unblockWriter(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
  } catch {
    // gone already
  }
}

function workerOutcome(worker: Worker): Promise<BundleOutcome> {
  return new Promise((resolve, reject) => {
    worker.once("message", (message: { ok: true; outcome: BundleOutcome } | { ok: false; message: string; code?: string }) => {
      if (message.ok) resolve(message.outcome);
      else reject(new BackupError(`reading the data directory failed: ${message.message}`, message.code === "EPIPE" ? "the compressor stopped: its message says why" : "check the primary's data volume, then run the backup again"));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new BackupError(`a backup worker ended (exit ${code}) before its bundle was written`, "run the backup again")));
  });
}
