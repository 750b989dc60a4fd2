// Point-in-time recovery: the target a user asked for, the recovery settings that reach it, which
// archived files recovery needs, and what the server's log says it reached. Pure.
import { z } from "zod";
import { ConfigError } from "../errors";
import { parseLsn } from "../metrics/lsn";
import type { ArchivedWal } from "./names";
import { segmentOfLsn } from "./names";

export const RecoveryTargetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("latest") }),
  z.object({ kind: z.literal("time"), time: z.string() }),
  z.object({ kind: z.literal("lsn"), lsn: z.string() }),
  z.object({ kind: z.literal("name"), name: z.string() }),
]);
export type RecoveryTarget = z.infer<typeof RecoveryTargetSchema>;

export interface RecoveryFlags {
  to?: string | undefined;
  toLsn?: string | undefined;
  toName?: string | undefined;
  latest?: boolean | undefined;
}

/** --to, --to-lsn, --to-name, --latest: at most one; undefined when none (a plain restore of the backup). */
export function parseRecoveryFlags(flags: RecoveryFlags): RecoveryTarget | undefined {
  const given = [flags.to !== undefined, flags.toLsn !== undefined, flags.toName !== undefined, flags.latest === true].filter(Boolean).length;
  if (given > 1) throw new ConfigError("--to, --to-lsn, --to-name and --latest exclude each other", "give one recovery target");
  if (flags.latest) return { kind: "latest" };
  if (flags.to !== undefined) {
    // A time without a zone would be read in the host's zone: ask for one.
    if (!/(Z|[+-]\d{2}(:?\d{2})?)$/i.test(flags.to.trim()) || Number.isNaN(Date.parse(flags.to))) {
      throw new ConfigError(`--to ${flags.to} is not a time with a zone`, "use ISO 8601 with a zone, e.g. --to 2026-12-02T07:30:00Z or --to '2026-12-02 08:30:00+01:00'");
    }
    return { kind: "time", time: new Date(Date.parse(flags.to)).toISOString() };
  }
  if (flags.toLsn !== undefined) {
    try {
      parseLsn(flags.toLsn);
    } catch {
      throw new ConfigError(`--to-lsn ${flags.toLsn} is not a WAL position`, "use the form PostgreSQL prints, e.g. --to-lsn 0/3000148 (SELECT pg_current_wal_lsn())");
    }
    return { kind: "lsn", lsn: flags.toLsn.toUpperCase() };
  }
  if (flags.toName !== undefined) {
    if (flags.toName.length === 0 || flags.toName.length > 63) throw new ConfigError(`--to-name ${JSON.stringify(flags.toName)} is not a restore point name`, "restore point names have 1 to 63 characters");
    return { kind: "name", name: flags.toName };
  }
  return undefined;
}

export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case "latest":
      return "the end of the archived WAL";
    case "time":
      return `time ${target.time}`;
    case "lsn":
      return `LSN ${target.lsn}`;
    case "name":
      return `restore point ${JSON.stringify(target.name)}`;
  }
}

/**
 * The settings of the recovery run: WAL from `walDir` (filled by the job before the start), stop
 * at the target (inclusive: a transaction committed at exactly T is in), then promote, on the
 * newest timeline the archive's history files lead to.
 */
export function recoverySettings(target: RecoveryTarget, walDir: string): Record<string, string> {
  const settings: Record<string, string> = {
    restore_command: `cp '${walDir}/%f' '%p'`,
    recovery_target_timeline: "latest",
    recovery_target_action: "promote",
    // No read-only connections during replay: none are needed, and hot standby would demand
    // max_connections and friends at least as high as the source's.
    hot_standby: "off",
  };
  // PostgreSQL's own form: the ISO "T…Z" spelling is not accepted there.
  if (target.kind === "time") settings.recovery_target_time = target.time.replace("T", " ").replace(/Z$/, "+00");
  if (target.kind === "lsn") settings.recovery_target_lsn = target.lsn;
  if (target.kind === "name") settings.recovery_target_name = target.name;
  if (target.kind !== "latest") settings.recovery_target_inclusive = "on";
  return settings;
}

/**
 * The archived files a recovery from a base backup (its start LSN and timeline) to `target` reads:
 * every history file, and the segments from the backup's start on its timeline and later ones; for
 * an LSN target, none past the one that holds it. For a time or a name all later segments are
 * taken: when a file was stored says nothing certain of the times inside it.
 */
export function walNeeded(archived: readonly ArchivedWal[], start: { lsn: string; timeline: number }, target: RecoveryTarget): ArchivedWal[] {
  const first = segmentOfLsn(start.lsn);
  const last = target.kind === "lsn" ? segmentOfLsn(target.lsn) + 1n : undefined;
  const byName = new Map<string, ArchivedWal>();
  for (const file of archived) {
    if (file.kind === "backup") continue;
    if (file.kind !== "history") {
      if (file.timeline < start.timeline || file.segment === undefined || file.segment < first) continue;
      if (last !== undefined && file.segment > last) continue;
    }
    // One object per name (the archive is write-once; a name stored twice has the same bytes).
    if (!byName.has(file.name)) byName.set(file.name, file);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export interface RecoveryReached {
  /** "recovery stopping before commit of transaction 742, time 2026-12-02 07:01:02.123+00". */
  stopLine: string | null;
  /** The last transaction replayed, as the server logs it. */
  lastTransactionAt: string | null;
  /** Where replay ended ("redo done at 0/3000148"). */
  redoDoneAt: string | null;
  /** PostgreSQL 13+: the WAL ended before the target was reached (a FATAL; the server stops). */
  endedBeforeTarget: boolean;
}

export function parseRecoveryLog(log: string): RecoveryReached {
  const last = (pattern: RegExp): RegExpExecArray | null => {
    let found: RegExpExecArray | null = null;
    for (const line of log.split("\n")) found = pattern.exec(line) ?? found;
    return found;
  };
  return {
    stopLine: last(/(recovery stopping (?:before|after|at) .*)$/)?.[1]?.trim() ?? null,
    lastTransactionAt: last(/last completed transaction was at log time (.+)$/)?.[1]?.trim() ?? null,
    redoDoneAt: last(/redo done at ([0-9A-F]+\/[0-9A-F]+)/)?.[1] ?? null,
    endedBeforeTarget: /recovery ended before configured recovery target was reached/.test(log),
  };
}
