// Which backups to keep: keepLast, plus grandfather-father-son buckets (the newest backup of each
// of the last N days, weeks and months that have one). Per kind. Pure: history and clock in.
import type { Retention } from "../config/schema";
import type { BackupKind } from "./layout";

export interface RetentionCandidate {
  id: string;
  kind: BackupKind;
  status: "complete" | "incomplete";
  createdAt: Date;
  /** Last write of any of its files: an incomplete backup younger than a day may still be running. */
  lastWrittenAt: Date;
  verified: "passed" | "failed" | null;
  /** An incremental's parent (src/backup/incremental.ts): kept as long as the incremental is. */
  parent?: string | null | undefined;
}

export interface RetentionDecision {
  id: string;
  kind: BackupKind;
  keep: boolean;
  reasons: string[];
}

export const INCOMPLETE_GRACE_MS = 24 * 60 * 60 * 1000;

export function planRetention(backups: readonly RetentionCandidate[], policy: Retention, now: Date): RetentionDecision[] {
  const decisions: RetentionDecision[] = [];
  for (const kind of ["logical", "physical"] as const) {
    const ofKind = backups.filter((backup) => backup.kind === kind);
    decisions.push(...planKind(ofKind, policy, now));
  }
  return decisions;
}

function planKind(backups: readonly RetentionCandidate[], policy: Retention, now: Date): RetentionDecision[] {
  const reasons = new Map<string, string[]>(backups.map((backup) => [backup.id, []]));
  const keep = (backup: RetentionCandidate, reason: string): void => void reasons.get(backup.id)?.push(reason);
  const complete = backups
    .filter((backup) => backup.status === "complete")
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));

  complete.slice(0, policy.keepLast).forEach((backup, index) => keep(backup, `last ${index + 1} of ${policy.keepLast}`));
  keepBuckets(complete, policy.daily, dayOf, "daily", keep);
  keepBuckets(complete, policy.weekly, isoWeekOf, "weekly", keep);
  keepBuckets(complete, policy.monthly, monthOf, "monthly", keep);
  if (complete[0]) keep(complete[0], "newest complete backup");
  const newestVerified = complete.find((backup) => backup.verified === "passed");
  if (newestVerified) keep(newestVerified, "newest verified backup");
  // A kept incremental needs its whole chain: every parent up to the full one stays with it.
  const byId = new Map(complete.map((backup) => [backup.id, backup]));
  for (const backup of complete.filter((candidate) => (reasons.get(candidate.id) ?? []).length > 0)) {
    const seen = new Set([backup.id]);
    for (let parent = byId.get(backup.parent ?? ""); parent && !seen.has(parent.id); parent = byId.get(parent.parent ?? "")) {
      seen.add(parent.id);
      keep(parent, `in the chain of kept ${backup.id}`);
    }
  }

  return backups.map((backup) => {
    const kept = reasons.get(backup.id) ?? [];
    if (backup.status === "incomplete") {
      const young = now.getTime() - backup.lastWrittenAt.getTime() < INCOMPLETE_GRACE_MS;
      return {
        id: backup.id,
        kind: backup.kind,
        keep: young,
        reasons: [young ? "incomplete, less than 24 h old (may still be running)" : "incomplete, older than 24 h"],
      };
    }
    return { id: backup.id, kind: backup.kind, keep: kept.length > 0, reasons: kept.length > 0 ? kept : ["outside every retention rule"] };
  });
}

/** Keeps the newest backup of each of the `count` most recent buckets (days, weeks, months) that have one. */
function keepBuckets(
  newestFirst: readonly RetentionCandidate[],
  count: number,
  bucketOf: (date: Date) => string,
  label: string,
  keep: (backup: RetentionCandidate, reason: string) => void,
): void {
  const seen = new Set<string>();
  for (const backup of newestFirst) {
    if (seen.size >= count) return;
    const bucket = bucketOf(backup.createdAt);
    if (seen.has(bucket)) continue;
    seen.add(bucket);
    keep(backup, `${label} ${bucket}`);
  }
}

export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** ISO 8601 week, e.g. 2026-W48 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekOf(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}
