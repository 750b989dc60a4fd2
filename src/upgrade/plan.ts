// `pgfort upgrade`, planned (issue 12): whether an upgrade, a rollback or a finalize may run, what
// the pre-check found, the private servers the data moves between, where the new WAL starts.
// Pure: facts in, decisions out.
import { privateServerConf } from "../cluster/private-server";
import { UpgradeError } from "../errors";
import { generationSuffix, type MajorState } from "../config/major-state";
import { SUPPORTED_MAJORS } from "../config/schema";
import { segmentFileName, segmentOfLsn, segmentStartLsn } from "../wal/names";
import type { Topology } from "../cluster/topology";

export interface UpgradeRequest {
  /** What runs now (config.image, after major.json). */
  currentMajor: number;
  to: number;
  state: MajorState | undefined;
  topology: Topology;
}

/** Refuses what cannot be upgraded, saying what to do; returns the new generation's volume suffix. */
export function checkUpgradeRequest(request: UpgradeRequest): { volumeSuffix: string } {
  const supported = Object.keys(SUPPORTED_MAJORS).map(Number);
  if (!supported.includes(request.to)) {
    throw new UpgradeError(`pgfort upgrades to PostgreSQL ${supported.join(" or ")}, not ${request.to}`, `pgfort upgrade --to ${Math.max(...supported)}`);
  }
  if (request.to === request.currentMajor) throw new UpgradeError(`the cluster runs PostgreSQL ${request.to} already`, "nothing to do");
  if (request.to < request.currentMajor) {
    throw new UpgradeError(
      `PostgreSQL ${request.currentMajor} cannot be moved down to ${request.to}`,
      request.state?.previous?.major === request.to ? "pgfort upgrade --rollback brings the old server back (writes since the upgrade are lost)" : "restore a logical backup into a new cluster on the older major",
    );
  }
  if (request.state?.previous) {
    throw new UpgradeError(
      `the upgrade from ${request.state.previous.major} to ${request.state.current.major} is not finalized: its old volumes are still kept`,
      "pgfort upgrade --finalize (removes them), or --rollback, first",
    );
  }
  if (request.topology.primary !== "primary") {
    throw new UpgradeError(
      `the primary is the promoted replica ${request.topology.primary}: pgfort upgrades a cluster whose primary is its node "primary"`,
      "take a logical backup and restore it into a new cluster on the new major (pgfort backup run --kind logical; pgfort restore ID --as …), or re-create the cluster's primary",
    );
  }
  return { volumeSuffix: generationSuffix(request.to) };
}

export interface PrecheckFacts {
  sourceVersionNum: number;
  currentMajor: number;
  /** Installed extensions of every database of the old server. */
  installed: ReadonlyArray<{ database: string; extension: string }>;
  /** pg_available_extensions of the new server. */
  available: ReadonlySet<string>;
  /** Free bytes where the new volumes go (the engine's volume directory), and sum(pg_database_size). */
  freeBytes: number;
  databaseBytes: number;
  /** The replicas of the config and whether each streams from the primary now. */
  replicas: ReadonlyArray<{ name: string; streaming: boolean }>;
}

export interface Precheck {
  problems: string[];
  notes: string[];
  neededBytes: number;
}

/** Head-room for the new data directory: the dump is reloaded compactly, indexes rebuilt; WAL and the catalog besides. */
export function neededBytes(databaseBytes: number): number {
  return Math.ceil(databaseBytes * 1.1) + 256 * 1024 * 1024;
}

export function evaluatePrecheck(facts: PrecheckFacts): Precheck {
  const problems: string[] = [];
  const notes: string[] = [];
  const major = Math.floor(facts.sourceVersionNum / 10000);
  if (major !== facts.currentMajor) problems.push(`the primary runs PostgreSQL ${major}, the cluster's state says ${facts.currentMajor}`);
  const missing = facts.installed.filter((item) => !facts.available.has(item.extension));
  if (missing.length > 0) {
    problems.push(`extensions the new image does not have: ${missing.map((item) => `${item.extension} (database ${item.database})`).join(", ")}: add their Debian packages to image.extensions`);
  }
  const needed = neededBytes(facts.databaseBytes);
  if (facts.freeBytes < needed) {
    problems.push(`${formatMiB(facts.freeBytes)} free where the new volumes go, the new major needs about ${formatMiB(needed)} (the databases hold ${formatMiB(facts.databaseBytes)})`);
  }
  for (const replica of facts.replicas) {
    notes.push(`replica ${replica.name}${replica.streaming ? "" : " (not streaming now)"}: re-created on the new major from the new primary`);
  }
  return { problems, notes, neededBytes: needed };
}

function formatMiB(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

/**
 * Where the new server's WAL starts (pg_resetwal -l): a segment after the old server's last, on a
 * timeline above any this cluster used, so no WAL file name it archives can be one the archive
 * holds already (the archive refuses a name it holds with other bytes: two primaries).
 */
export function nextWalStart(old: { lsn: string; timeline: number }, highestTimeline: number, fromMajor: number): { walFile: string; timeline: number; history: string } {
  const timeline = Math.max(old.timeline, highestTimeline) + 1;
  const segment = segmentOfLsn(old.lsn) + 1n;
  // PostgreSQL's own format (parent, switch point, reason): the new timeline begins where its WAL does.
  const history = `${timeline - 1}\t${segmentStartLsn(segment)}\tpgfort upgrade from PostgreSQL ${fromMajor}`;
  return { walFile: segmentFileName(timeline, segment), timeline, history };
}

/** Both private servers of a move archive nothing (the load is not WAL anyone restores); the incoming one commits asynchronously. */
export function upgradeConf(role: "source" | "incoming"): string {
  return privateServerConf({ archive: false, extra: role === "incoming" ? ["# the load is redone from the old server if this server crashes", "synchronous_commit = off"] : [] });
}

/** Rows per table of every database, old against new: each difference named. */
export function compareMovedRows(source: Record<string, Record<string, number>>, moved: Record<string, Record<string, number>>): { ok: boolean; tables: number; rows: number; differences: string[] } {
  const differences: string[] = [];
  let tables = 0;
  let rows = 0;
  for (const [database, counts] of Object.entries(source)) {
    const after = moved[database];
    if (!after) {
      differences.push(`database ${database} is missing on the new server`);
      continue;
    }
    for (const [table, count] of Object.entries(counts)) {
      tables += 1;
      rows += count;
      if (after[table] !== count) differences.push(`${database}.${table}: ${count} rows on the old server, ${after[table] ?? "missing"} on the new`);
    }
    for (const table of Object.keys(after)) if (!(table in counts)) differences.push(`${database}.${table}: only on the new server`);
  }
  return { ok: differences.length === 0, tables, rows, differences };
}
