// The agent's WAL archiver: every few hundred milliseconds it marks itself alive in the socket
// volume, takes each server's ready WAL file from the spool, stores it (src/wal/store.ts) and
// answers; a skip mark (wal.maxPending reached) becomes a gap record in the target, a metric and
// an alert. While the target fails it answers `failed` (PostgreSQL keeps the WAL and retries) and
// backs off; /healthz says so, with the backlog, long before the bound.
import { Counter, Gauge, Registry } from "prom-client";
import type { BackupTarget } from "../backup/targets/target";
import type { RunNotifier } from "../notify/notifier";
import type { LoopLog } from "../schedule/loop";
import { walDirectory, WAL_SEGMENT_BYTES } from "./names";
import { WAL_METRICS } from "../monitoring/metric-names";
import { answerDone, answerFailed, clearSkipped, readSkipped, removeAlive, scanSpool, touchAlive, type SpoolEntry } from "./spool";
import { storeWalFile, type WalCompression } from "./store";

export const ARCHIVE_HEALTH_NAME = "wal-archive";
const MAX_BACKOFF_MS = 30_000;
/** WAL files stored at once: the servers hand over a few ahead (PGFORT_ARCHIVE_AHEAD), each is compressed by its own process. */
const PARALLEL_STORES = 3;
/** A recorded gap keeps /healthz failing this long: the window is broken until a new base backup. */
const GAP_UNHEALTHY_MS = 24 * 3_600_000;
const REPEAT_ALERT_MS = 3_600_000;

export interface WalArchiverOptions {
  cluster: string;
  target: BackupTarget;
  /** The cluster's socket volume in the agent (SOCKETS_DIR). */
  socketsDir: string;
  compression: WalCompression;
  maxPendingBytes: number;
  intervalMs?: number;
  notifier?: RunNotifier | undefined;
  log: LoopLog;
}

export interface ArchiverHealth {
  name: string;
  ok: boolean;
  reason: string;
}

export class WalArchiver {
  readonly registry = new Registry();
  private readonly archived = new Counter({ name: WAL_METRICS.archived, help: "WAL files stored in the target by the agent (already-stored ones included)", labelNames: ["server"], registers: [this.registry] });
  private readonly failures = new Counter({ name: WAL_METRICS.failures, help: "Attempts to store a WAL file that failed (the server keeps it and retries)", registers: [this.registry] });
  private readonly gaps = new Counter({ name: WAL_METRICS.gaps, help: "WAL files given up past wal.maxPending: gaps in the recoverable window", registers: [this.registry] });
  private readonly lastSuccess = new Gauge({ name: WAL_METRICS.lastSuccessTimestamp, help: "Unix time the agent last stored a WAL file", registers: [this.registry] });
  private readonly failing = new Gauge({ name: WAL_METRICS.failing, help: "1 while storing WAL fails", registers: [this.registry] });
  private readonly pendingGauge = new Gauge({ name: WAL_METRICS.pendingBytes, help: "WAL waiting in the server's pg_wal for the archive, as it last said", labelNames: ["server"], registers: [this.registry] });
  private readonly maxPendingGauge = new Gauge({ name: WAL_METRICS.maxPendingBytes, help: "wal.maxPending: past it the server gives WAL up unarchived", registers: [this.registry] });

  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failingSince: Date | null = null;
  private lastError: string | null = null;
  private consecutiveFailures = 0;
  private nextAttemptAt = 0;
  private lastAlertAt = 0;
  private lastGapAt: Date | null = null;
  private lastStoredAt: Date | null = null;
  private readonly pending = new Map<string, { bytes: number; name: string }>();

  constructor(private readonly options: WalArchiverOptions) {
    this.failing.set(0);
    this.gaps.inc(0);
    this.failures.inc(0);
    this.maxPendingGauge.set(options.maxPendingBytes);
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      let handled = 0;
      this.running = this.tick()
        .then((count) => void (handled = count))
        .catch((error: unknown) => this.options.log.warn(`wal archiver: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => {
          // Straight on after a round that stored something: more is often ready (a burst of WAL).
          if (!this.stopped) this.timer = setTimeout(loop, handled > 0 ? 0 : (this.options.intervalMs ?? 250));
        });
    };
    loop();
  }

  /** No new work; waits for the file being stored, then removes the alive mark (the servers stop waiting for answers). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await removeAlive(this.options.socketsDir).catch(() => undefined);
  }

  /** One round: the alive mark, then every skip mark and ready file, up to PARALLEL_STORES at a time; how many it handled. Exposed for the tests. */
  async tick(now = new Date()): Promise<number> {
    const { socketsDir } = this.options;
    await touchAlive(socketsDir);
    const scan = await scanSpool(socketsDir);
    for (const [server, value] of scan.pending) {
      this.pending.set(server, value);
      this.pendingGauge.set({ server }, value.bytes);
    }
    if (now.getTime() < this.nextAttemptAt) return 0;
    const queue = [...scan.entries];
    let failure: { entry: SpoolEntry; error: unknown } | undefined;
    const work = async (): Promise<void> => {
      for (let entry = queue.shift(); entry && !this.stopped && !failure; entry = queue.shift()) {
        try {
          if (entry.state === "skipped") await this.recordGap(entry, now);
          else await this.store(entry);
        } catch (error) {
          // The first failure stops the round (the target is likely down: back off); files
          // being stored beside it finish, each with its own answer.
          if (failure) await this.answerFailure(entry, error);
          else failure = { entry, error };
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_STORES }, work));
    if (failure) await this.failed(failure.entry, failure.error, now);
    return failure ? 0 : scan.entries.length - queue.length;
  }

  health(now = new Date()): ArchiverHealth {
    const name = ARCHIVE_HEALTH_NAME;
    const backlog = Math.max(0, ...[...this.pending.values()].map((value) => value.bytes));
    const ofBound = `${mib(backlog)} MiB of WAL waiting, wal.maxPending ${mib(this.options.maxPendingBytes)} MiB`;
    if (this.failingSince) return { name, ok: false, reason: `storing WAL fails since ${this.failingSince.toISOString()}: ${this.lastError ?? "unknown error"}; ${ofBound}` };
    if (this.lastGapAt && now.getTime() - this.lastGapAt.getTime() < GAP_UNHEALTHY_MS) {
      return { name, ok: false, reason: `WAL was given up unarchived at ${this.lastGapAt.toISOString()} (wal.maxPending reached): the recoverable window has a gap until the next physical backup` };
    }
    if (backlog > this.options.maxPendingBytes / 2) return { name, ok: false, reason: `archive backlog over half of the bound: ${ofBound}` };
    return { name, ok: true, reason: this.lastStoredAt ? `last WAL stored ${this.lastStoredAt.toISOString()}; ${ofBound}` : `waiting for the first WAL file; ${ofBound}` };
  }

  private async store(entry: SpoolEntry): Promise<void> {
    const stored = await storeWalFile(this.options.target, this.options.cluster, entry.name, entry.path, this.options.compression);
    await answerDone(entry);
    this.archived.inc({ server: entry.server });
    this.lastStoredAt = new Date();
    this.lastSuccess.set(this.lastStoredAt.getTime() / 1000);
    const pending = this.pending.get(entry.server);
    if (pending?.name === entry.name) {
      // The file the backlog was measured with has left it.
      pending.bytes = Math.max(0, pending.bytes - WAL_SEGMENT_BYTES);
      this.pendingGauge.set({ server: entry.server }, pending.bytes);
    }
    if (this.failingSince) this.options.log.info(`wal archiver: storing WAL works again (failing since ${this.failingSince.toISOString()})`);
    this.failingSince = null;
    this.lastError = null;
    this.consecutiveFailures = 0;
    this.failing.set(0);
    this.options.log.info(`wal archiver: ${entry.name} of ${entry.server} ${stored.written ? `stored (${stored.bytes} bytes)` : "was stored already"}`, { wal: entry.name, server: entry.server, key: stored.key });
  }

  private async recordGap(entry: SpoolEntry, now: Date): Promise<void> {
    const { target, cluster } = this.options;
    const skipped = await readSkipped(entry);
    const key = `${walDirectory(cluster)}gaps/${entry.name}.${entry.server}.json`;
    // Write-once: a record that is there already (an agent stopped before clearing the mark) stays.
    if ((await target.readText(key)) === undefined) {
      const record = { name: entry.name, server: entry.server, skippedAt: skipped.skippedAt, pendingBytes: skipped.pendingBytes, maxPendingBytes: this.options.maxPendingBytes, recordedAt: now.toISOString() };
      await target.writeText(key, `${JSON.stringify(record, null, 2)}\n`);
    }
    await clearSkipped(entry);
    this.gaps.inc();
    this.lastGapAt = now;
    const message = `${entry.server} gave ${entry.name} up unarchived: ${skipped.pendingBytes ?? "?"} bytes of WAL were waiting, over wal.maxPending (${this.options.maxPendingBytes}); the recoverable window has a gap until the next physical backup`;
    this.options.log.warn(`wal archiver: ${message}`, { wal: entry.name, server: entry.server, gap: true });
    void this.options.notifier?.notify({ event: "failure", job: ARCHIVE_HEALTH_NAME, backupId: null, bytes: null, durationMs: null, error: message });
  }

  private async failed(entry: SpoolEntry, error: unknown, now: Date): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    this.failures.inc();
    this.failing.set(1);
    this.consecutiveFailures += 1;
    this.nextAttemptAt = now.getTime() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.consecutiveFailures - 1));
    this.lastError = reason;
    const first = this.failingSince === null;
    this.failingSince ??= now;
    await this.answerFailure(entry, error);
    if (first || now.getTime() - this.lastAlertAt > REPEAT_ALERT_MS) {
      this.lastAlertAt = now.getTime();
      this.options.log.warn(`wal archiver: cannot store ${entry.name} of ${entry.server}: ${reason} (the server keeps it and retries)`, { wal: entry.name, server: entry.server });
      void this.options.notifier?.notify({ event: "failure", job: ARCHIVE_HEALTH_NAME, backupId: null, bytes: null, durationMs: null, error: `storing WAL ${entry.name} of ${entry.server} failed: ${reason}` });
    }
  }

  /** The server reads the reason from NAME.failed when the file's turn comes; PostgreSQL retries it. */
  private async answerFailure(entry: SpoolEntry, error: unknown): Promise<void> {
    if (entry.state === "ready") await answerFailed(entry, error instanceof Error ? error.message : String(error)).catch(() => undefined);
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
