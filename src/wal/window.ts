// The recoverable window of a cluster: from the oldest complete physical backup's end (the first
// point a restore can stop at) to the newest WAL file a base backup's chain reaches without a gap;
// and every gap, a run of segments missing from the archive (wal.maxPending reached, a lost
// primary's last WAL): points inside a gap, and before the next base backup after it, cannot be restored.
// Pure: the backups and the archive's listing in, the window out.
import { parseArchiveKey, segmentFileName, segmentOfLsn, type ArchivedWal } from "./names";
import type { StoredObject } from "../backup/targets/target";

export interface WindowBackup {
  id: string;
  /** When the backup finished: the earliest time a restore from it can stop at. */
  finishedAt: string;
  wal: { startLsn: string; endLsn: string; timeline: number };
}

export interface WalGap {
  /** First and last missing segment names (on the timeline of the segment before the gap). */
  from: string;
  to: string;
  segments: number;
}

export interface RecoverableWindow {
  /** null: no physical backup, so no point can be restored from the archive. */
  from: { time: string; lsn: string; backupId: string } | null;
  /** The newest WAL file a restore can replay to: no gap between it and some base backup's start; null when there is none. */
  to: { time: string; segment: string } | null;
  gaps: WalGap[];
  /** WAL files in the archive (segments, partial segments and history files). */
  files: number;
}

export interface ArchivedObject extends ArchivedWal {
  modifiedAt: Date;
}

export function archivedObjects(cluster: string, objects: readonly StoredObject[]): ArchivedObject[] {
  return objects.flatMap((object) => {
    const archived = parseArchiveKey(cluster, object.key);
    return archived ? [{ ...archived, modifiedAt: object.modifiedAt }] : [];
  });
}

export function recoverableWindow(backups: readonly WindowBackup[], archived: readonly ArchivedObject[]): RecoverableWindow {
  const segments = archived.filter((file) => file.kind === "segment" || file.kind === "partial");
  const oldest = [...backups].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt))[0];
  const result: RecoverableWindow = { from: null, to: null, gaps: [], files: archived.filter((file) => file.kind !== "backup").length };
  if (!oldest) return result;
  result.from = { time: oldest.finishedAt, lsn: oldest.wal.endLsn, backupId: oldest.id };
  // Per segment number, the file on the newest timeline (a promotion continues the old one's numbers).
  const bySegment = new Map<bigint, ArchivedObject>();
  for (const file of segments) {
    if (file.segment === undefined || file.timeline < oldest.wal.timeline) continue;
    const seen = bySegment.get(file.segment);
    if (!seen || file.timeline > seen.timeline || (file.timeline === seen.timeline && seen.kind === "partial")) bySegment.set(file.segment, file);
  }
  const first = segmentOfLsn(oldest.wal.startLsn);
  // A gap breaks the chain; a base backup that starts after it begins a new one.
  const starts = backups.map((backup) => segmentOfLsn(backup.wal.startLsn));
  const numbers = [...bySegment.keys()].filter((segment) => segment >= first).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let previous: ArchivedObject | undefined;
  let expected = first;
  let chained = true;
  for (const segment of numbers) {
    const file = bySegment.get(segment);
    if (!file) continue;
    if (segment > expected) {
      const timeline = previous?.timeline ?? oldest.wal.timeline;
      result.gaps.push({ from: segmentFileName(timeline, expected), to: segmentFileName(timeline, segment - 1n), segments: Number(segment - expected) });
      chained = starts.some((start) => start > expected - 1n && start <= segment);
    }
    // A base backup that starts later, past the gap's first archived file (the first backup of a
    // major after `pgfort upgrade`, which takes it soon after), begins a new chain there too.
    if (!chained && starts.includes(segment)) chained = true;
    if (chained) result.to = { time: newer(result.to?.time, file.modifiedAt.toISOString()), segment: file.name };
    previous = file;
    expected = segment + 1n;
  }
  return result;
}

function newer(a: string | undefined, b: string): string {
  return a && a > b ? a : b;
}
