// Point-in-time recovery inside the restore job (`restore --as NAME --to …`): after the base backup
// is extracted and verified, the archived WAL it needs is fetched into the new data directory
// (sha256 of each file checked), a private server (no TCP, a socket in its own directory) replays
// it to the target and promotes, and stops cleanly; the host then starts the new server on that
// data directory as usual. What the log says it reached is the result.
import os from "node:os";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BackupManifest } from "../backup/manifest";
import type { BackupTarget } from "../backup/targets/target";
import { BackupError } from "../errors";
import { fetchWalFiles } from "../wal/fetch";
import { walDirectory } from "../wal/names";
import { describeTarget, parseRecoveryLog, recoverySettings, walNeeded, type RecoveryReached, type RecoveryTarget } from "../wal/recovery-target";
import { archivedObjects } from "../wal/window";
import { readLimits } from "./limits";
import { SECRETS_DIR } from "../cluster/secrets";
import { BACKUP_IDENTITY_FILE } from "../backup/plan";
import { ScratchServer } from "./scratch-server";
import { renderSettings, scratchSettings } from "./scratch-settings";

/** In the new data directory: removed once recovery is done. */
export const RECOVERY_WAL_DIR = "pgfort-recovery-wal";
const PROMOTION_TIMEOUT_MS = 6 * 3_600_000;
/** A server whose startup process failed shuts its other processes down: seconds, not minutes. */
const EXIT_TIMEOUT_MS = 120_000;

export interface RecoverOptions {
  target: BackupTarget;
  manifest: BackupManifest;
  dataDir: string;
  recovery: RecoveryTarget;
  /** Where the private server's config, log and socket go (a tmpfs in the job container). */
  scratchDir?: string;
  jobCommand?: string | undefined;
  /** The age identity for encrypted WAL (default: the secrets volume's backup-identity). */
  identityFile?: string | undefined;
  onInfo?(message: string): void;
  signal?: AbortSignal | undefined;
}

export interface RecoveryOutcome {
  target: string;
  walFiles: number;
  reached: RecoveryReached;
  /** The timeline the restored server starts on (the promotion's new one). */
  timeline: number | null;
  /** A time target past the last archived transaction: everything archived was replayed. */
  replayedAll: boolean;
}

export async function recoverToTarget(options: RecoverOptions): Promise<RecoveryOutcome> {
  const { target, manifest, dataDir, recovery, signal } = options;
  if (!manifest.wal) throw new BackupError(`backup ${manifest.id} has no WAL start point in its manifest`, "restore to a point in time from a physical backup pgfort took");
  const archived = archivedObjects(manifest.cluster, await target.list(walDirectory(manifest.cluster)));
  const needed = walNeeded(archived, { lsn: manifest.wal.startLsn, timeline: manifest.wal.timeline }, recovery);
  const walDir = path.join(dataDir, RECOVERY_WAL_DIR);
  await mkdir(walDir, { mode: 0o700 });
  options.onInfo?.(`fetching ${needed.length} archived WAL file(s) from ${target.url} (sha256 of each checked)`);
  const decryption = { identityFile: options.identityFile ?? path.join(SECRETS_DIR, BACKUP_IDENTITY_FILE), recipients: manifest.encryption?.recipients };
  await fetchWalFiles(target, needed, walDir, decryption, signal);
  await writeFile(path.join(dataDir, "recovery.signal"), "");
  const server = await ScratchServer.on(dataDir, { scratchDir: options.scratchDir ?? os.tmpdir(), signal, ...(options.jobCommand ? { command: options.jobCommand } : {}) });
  try {
    const durable = await restoredServerSettings();
    options.onInfo?.(`replaying WAL to ${describeTarget(recovery)}`);
    let reached = await replay(server, renderSettings({ ...durable, ...recoverySettings(recovery, walDir) }));
    let replayedAll = false;
    if (reached.endedBeforeTarget && recovery.kind === "time") {
      // No transaction ends after T in the archive: every archived one is at or before T.
      options.onInfo?.(`no transaction after ${recovery.time} in the archive: replaying all of it`);
      reached = await replay(server, renderSettings({ ...durable, ...recoverySettings({ kind: "latest" }, walDir) }));
      replayedAll = true;
    }
    if (reached.endedBeforeTarget) {
      throw new BackupError(
        `the archived WAL ends before ${describeTarget(recovery)} (last transaction replayed: ${reached.lastTransactionAt ?? "none"})`,
        recovery.kind === "name" ? "create the point with pgfort restore-point NAME, or pick one the archive holds" : "pick a target inside the window (pgfort backup list), or use --latest",
      );
    }
    const timeline = [...(await server.log()).matchAll(/selected new timeline ID: (\d+)/g)].at(-1)?.[1];
    await server.remove("fast");
    await putBackAutoConf(dataDir);
    await rm(walDir, { recursive: true, force: true });
    return { target: describeTarget(recovery), walFiles: needed.length, reached, timeline: timeline ? Number(timeline) : null, replayedAll };
  } catch (error) {
    await server.remove("immediate").catch(() => undefined);
    throw signal?.aborted ? signal.reason : error;
  }
}

/** A private server on what becomes the new server's data directory: durable settings, unlike a drill's. */
export async function restoredServerSettings(): Promise<Record<string, string>> {
  const limits = await readLimits();
  return { ...scratchSettings({ ...limits, fallbackBytes: os.totalmem() }), fsync: "on", synchronous_commit: "on", full_page_writes: "on", autovacuum: "off", cluster_name: "pgfort-recovery" };
}

/** Starts the private server and waits for the promotion; the log's account of where it stopped. */
async function replay(server: ScratchServer, settings: string): Promise<RecoveryReached> {
  // This run's part of the log: a second run (after the WAL ended before a time target) appends to it.
  const offset = (await server.log()).length;
  const logOfThisRun = async () => (await server.log()).slice(offset);
  try {
    await server.start(settings, {});
  } catch (error) {
    const reached = parseRecoveryLog(await logOfThisRun());
    if (!reached.endedBeforeTarget) throw error;
    await server.exited(EXIT_TIMEOUT_MS);
    return reached;
  }
  // pg_ctl returns once the postmaster runs; with hot standby off it refuses connections until the
  // promotion. Refusals are the wait; a postmaster that shut down is the end.
  const deadline = Date.now() + PROMOTION_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const run = await server.tool(["psql", "-X", "-A", "-t", "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"]);
    if (run.exitCode === 0 && run.stdout.trim() === "f") return parseRecoveryLog(await logOfThisRun());
    const log = await logOfThisRun();
    if (run.exitCode !== 0 && /database system is shut down|startup process \(PID \d+\) exited|PANIC:/.test(log)) {
      // It stopped: the WAL ended before the target (PostgreSQL 13+ stops with FATAL), or replay failed.
      // The startup process's exit is logged before the postmaster's last lines: a second run
      // starts only once they are written, or its part of the log would begin with them.
      const reached = parseRecoveryLog(log);
      if (reached.endedBeforeTarget) {
        await server.exited(EXIT_TIMEOUT_MS);
        return reached;
      }
      const tail = log.trim().split("\n").slice(-8).join("\n");
      throw new BackupError(`the recovering server stopped: ${tail || run.stderr.trim()}`, "read its log above; nothing was started under the restored name");
    }
    await sleep(500);
  }
  throw new BackupError("recovery did not finish within 6 hours", "restore from a newer base backup (fewer WAL files to replay)");
}

/** scratch-start set the backup's postgresql.auto.conf aside (a drill ignores it); the new server keeps it. */
export async function putBackAutoConf(dataDir: string): Promise<void> {
  await rename(path.join(dataDir, "postgresql.auto.conf.pgfort-drill"), path.join(dataDir, "postgresql.auto.conf")).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}
