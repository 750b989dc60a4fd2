// Incremental physical backups (PostgreSQL 17+, issue 12): chains of a full base backup and the
// incrementals taken against it, each against the one before. Pure.
//
// A physical backup of 17+ keeps PostgreSQL's backup_manifest as its own file (content
// "pg-manifest"): the next incremental names it as its parent (pg_basebackup --incremental). The
// manifest.json of an incremental records `parent`; restore rebuilds the chain, full first, with
// pg_combinebackup. A chain is at most `fullEvery` backups long: then the next one is full.
import { ConfigError } from "../errors";
import type { BackupEntry } from "./catalog";
import type { BackupFile, BackupManifest } from "./manifest";

/** The file name of a kept backup_manifest (compressed as the backup, never encrypted). */
export function pgManifestName(suffix: string): string {
  return `backup_manifest${suffix}`;
}

export function pgManifestFile(manifest: BackupManifest): BackupFile | undefined {
  return manifest.files.find((file) => file.content === "pg-manifest");
}

type CompleteEntry = BackupEntry & { manifest: BackupManifest };

export type ParentChoice = { parent: BackupManifest; chainLength: number } | { parent: null; why: string };

/**
 * What the next incremental is taken against: the newest complete physical backup, if it kept its
 * backup_manifest, is on the server's timeline, and its chain is shorter than `fullEvery`.
 * Otherwise a full backup, and why.
 */
export function chooseParent(
  entries: readonly BackupEntry[],
  options: {
    fullEvery: number;
    timeline: number | null;
    /** wal_summary_keep_time: the server removes WAL summaries older than this (0 or null: never). */
    summaryKeepMinutes?: number | null;
    now?: Date;
  },
): ParentChoice {
  const byId = completeById(entries);
  // By the manifests' start times (milliseconds): ids tell apart only seconds.
  const newest = entries
    .filter((entry): entry is CompleteEntry => entry.kind === "physical" && entry.status === "complete" && entry.manifest !== null)
    .sort((a, b) => b.manifest.startedAt.localeCompare(a.manifest.startedAt))[0];
  if (!newest) return { parent: null, why: "no complete physical backup to build on" };
  if (!pgManifestFile(newest.manifest)) return { parent: null, why: `the newest physical backup ${newest.id} kept no backup_manifest (taken before PostgreSQL 17, before pgfort's incrementals, or by the parallel engine)` };
  if (options.timeline !== null && newest.manifest.wal && newest.manifest.wal.timeline !== options.timeline) {
    return { parent: null, why: `the newest physical backup ${newest.id} is on timeline ${newest.manifest.wal.timeline}, the server on ${options.timeline} (a promotion since)` };
  }
  const keep = options.summaryKeepMinutes ?? 0;
  const ageMinutes = ((options.now ?? new Date()).getTime() - Date.parse(newest.manifest.startedAt)) / 60_000;
  // An hour's margin: the summarizer removes old summaries on its own schedule, not to the minute.
  if (keep > 0 && ageMinutes > keep - 60) {
    return { parent: null, why: `the newest physical backup ${newest.id} started ${formatAge(ageMinutes)} ago: the WAL summaries since then are kept only ${formatAge(keep)} (wal_summary_keep_time)` };
  }
  const chain = chainOf(newest.manifest, byId);
  if (!chain.ok) return { parent: null, why: chain.why };
  if (chain.backups.length >= options.fullEvery) return { parent: null, why: `the chain of ${chain.backups[0]?.id ?? "?"} holds ${chain.backups.length} backup(s) (fullEvery ${options.fullEvery})` };
  return { parent: newest.manifest, chainLength: chain.backups.length + 1 };
}

function formatAge(minutes: number): string {
  return minutes >= 2880 ? `${Math.round(minutes / 1440)} days` : minutes >= 120 ? `${Math.round(minutes / 60)} hours` : `${Math.round(minutes)} minutes`;
}

export type Chain = { ok: true; backups: BackupManifest[] } | { ok: false; why: string };

/** The backups a physical backup needs, full first, itself last; or which link is missing. */
export function chainOf(manifest: BackupManifest, byId: ReadonlyMap<string, BackupManifest>): Chain {
  const backups = [manifest];
  const seen = new Set([manifest.id]);
  let current = manifest;
  while (current.parent) {
    const parent = byId.get(current.parent);
    if (!parent) return { ok: false, why: `its parent ${current.parent} (of ${current.id}) is missing or incomplete` };
    if (seen.has(parent.id)) return { ok: false, why: `the chain of ${manifest.id} loops at ${parent.id}` };
    seen.add(parent.id);
    backups.unshift(parent);
    current = parent;
  }
  return { ok: true, backups };
}

export function completeById(entries: readonly BackupEntry[]): Map<string, BackupManifest> {
  return new Map(entries.flatMap((entry) => (entry.status === "complete" && entry.manifest ? [[entry.id, entry.manifest] as const] : [])));
}

/**
 * Complete incrementals whose chain is broken (a parent deleted or incomplete) become incomplete,
 * with the reason: nothing restores them, so nothing may pick them.
 */
export function markBrokenChains(entries: BackupEntry[]): BackupEntry[] {
  let changed = true;
  // A broken link breaks everything after it: repeat until nothing more breaks.
  while (changed) {
    changed = false;
    const byId = completeById(entries);
    for (const entry of entries) {
      if (entry.status !== "complete" || !entry.manifest?.parent) continue;
      const chain = chainOf(entry.manifest, byId);
      if (chain.ok) continue;
      entry.status = "incomplete";
      entry.reason = `incremental backup whose chain is broken: ${chain.why}`;
      changed = true;
    }
  }
  return entries;
}

/** `--incremental [--full-every N]` as the job takes it; undefined: a full backup. */
export function incrementalFlags(flags: { incremental?: boolean | undefined; fullEvery?: string | undefined }): { fullEvery: number } | undefined {
  if (!flags.incremental) {
    if (flags.fullEvery !== undefined) throw new ConfigError("--full-every needs --incremental", "pass --incremental --full-every N, or neither");
    return undefined;
  }
  const fullEvery = flags.fullEvery === undefined ? DEFAULT_FULL_EVERY : Number(flags.fullEvery);
  if (!Number.isInteger(fullEvery) || fullEvery < 1) throw new ConfigError(`--full-every ${flags.fullEvery ?? ""} is not a whole number of backups`, "use 1 or more (1: every backup is full)");
  return { fullEvery };
}

export const DEFAULT_FULL_EVERY = 7;
