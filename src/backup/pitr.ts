// Which base backup a point-in-time restore starts from, and the window it must fall in. The
// choice is pure (chooseBase); readWindow lists the target once for both.
import { ConfigError, NotFoundError } from "../errors";
import { parseLsn } from "../metrics/lsn";
import { walDirectory } from "../wal/names";
import type { RecoveryTarget } from "../wal/recovery-target";
import { archivedObjects, recoverableWindow, type RecoverableWindow, type WindowBackup } from "../wal/window";
import { listBackups, type BackupEntry } from "./catalog";
import type { BackupManifest } from "./manifest";
import type { BackupTarget } from "./targets/target";

export type CompleteBackup = BackupEntry & { manifest: BackupManifest };

/** Complete physical backups that carry their WAL points, as the window reads them. */
export function windowBackups(entries: readonly BackupEntry[]): Array<WindowBackup & { entry: CompleteBackup }> {
  return entries.flatMap((entry) => {
    const manifest = entry.manifest;
    if (entry.status !== "complete" || entry.kind !== "physical" || !manifest?.wal) return [];
    return [{ id: entry.id, finishedAt: manifest.finishedAt, wal: manifest.wal, entry: entry as CompleteBackup }];
  });
}

export async function readWindow(target: BackupTarget, cluster: string): Promise<{ entries: BackupEntry[]; window: RecoverableWindow }> {
  const [entries, objects] = await Promise.all([listBackups(target, cluster), target.list(walDirectory(cluster))]);
  return { entries, window: recoverableWindow(windowBackups(entries), archivedObjects(cluster, objects)) };
}

export function describeWindow(window: RecoverableWindow): string {
  if (!window.from) return "no recoverable window: there is no complete physical backup";
  const to = window.to ? `${window.to.time} (WAL ${window.to.segment})` : "the end of the oldest base backup (no WAL archived after it)";
  const gaps = window.gaps.length === 0 ? "" : `; gaps: ${window.gaps.map((gap) => `${gap.from}..${gap.to}`).join(", ")}`;
  return `recoverable window: ${window.from.time} (backup ${window.from.backupId}) to ${to}${gaps}`;
}

/**
 * The base for `target`: the one named (it must be physical and end before the target), or the
 * newest complete physical backup that ends before it. A time outside the window is an error that
 * prints the window.
 */
export function chooseBase(entries: readonly BackupEntry[], window: RecoverableWindow, recovery: RecoveryTarget, id?: string): CompleteBackup {
  const candidates = windowBackups(entries).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  if (recovery.kind === "time") {
    const end = window.to?.time ?? window.from?.time;
    if (!window.from || recovery.time < window.from.time || (end !== undefined && recovery.time > end)) {
      throw new ConfigError(`--to ${recovery.time} is outside the ${describeWindow(window)}`, "pick a time inside the window");
    }
  }
  const fits = (backup: (typeof candidates)[number]): boolean => {
    if (recovery.kind === "time") return backup.finishedAt <= recovery.time;
    if (recovery.kind === "lsn") return parseLsn(backup.wal.endLsn) <= parseLsn(recovery.lsn);
    return true;
  };
  if (id !== undefined && id !== "latest") {
    const named = candidates.find((backup) => backup.id === id);
    if (!named) throw new NotFoundError(`no complete physical backup ${id} with WAL points`, "a point-in-time restore starts from a physical backup: pgfort backup list shows them");
    if (!fits(named)) throw new ConfigError(`backup ${id} ends after the recovery target`, "pick an earlier backup, or give no id: pgfort picks the newest that fits");
    return named.entry;
  }
  const chosen = candidates.find(fits);
  if (!chosen) throw new NotFoundError(`no physical backup ends before the recovery target; ${describeWindow(window)}`, "take a physical backup (pgfort backup run --kind physical) or pick a later target");
  return chosen.entry;
}

/**
 * A PITR drill's point: a random time inside the window (`random` in [0, 1)), and the base backup a
 * restore to it starts from. No window, or no archived WAL after its start: an error that says so.
 */
export async function planPitrDrill(target: BackupTarget, cluster: string, random = Math.random()): Promise<{ entry: CompleteBackup; recovery: RecoveryTarget & { kind: "time" } }> {
  const { entries, window } = await readWindow(target, cluster);
  if (!window.from || !window.to || window.to.time <= window.from.time) {
    throw new NotFoundError(`no point-in-time drill possible: ${describeWindow(window)}`, "take a physical backup and let the agent archive WAL after it (wal.archive: true)");
  }
  const from = Date.parse(window.from.time);
  const span = Date.parse(window.to.time) - from;
  const recovery = { kind: "time" as const, time: new Date(from + Math.floor(random * span)).toISOString() };
  return { entry: chooseBase(entries, window, recovery), recovery };
}
