// `pgfort backup prune`: apply the retention plan to a target; abort stale multipart uploads.
import type { Retention } from "../config/schema";
import { listBackups } from "./catalog";
import { INCOMPLETE_GRACE_MS, planRetention, type RetentionDecision } from "./retention";
import type { BackupTarget, TargetEvents } from "./targets/target";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import { openTarget } from "./targets/resolve";
import { walDirectory } from "../wal/names";
import { planWalPrune } from "../wal/retention";

export interface PruneResult {
  decisions: RetentionDecision[];
  deleted: string[];
  /** Archived WAL files removed (or, dry run, to remove): older than every kept physical backup needs. */
  walRemoved: number;
  abortedUploads: number;
  dryRun: boolean;
}

/** The secrets-volume copy of backups.prune.credentialsFile (src/cluster/agent.ts writes it). */
export const PRUNE_CREDENTIALS_FILE = "aws-prune-credentials";

/**
 * The target prune deletes through: on S3 with backups.prune.credentialsFile, a client of its own
 * with those credentials (in the job container: the secrets volume's copy); else `everyday`.
 */
export function pruneTarget(everyday: BackupTarget, loaded: LoadedConfig, events: TargetEvents, secretsDir: string): BackupTarget {
  const { prune } = loaded.config.backups;
  if (!prune.credentialsFile || !everyday.url.startsWith("s3://")) return everyday;
  return openTarget(everyday.url, loaded, events, { credentialsFile: { path: path.join(secretsDir, PRUNE_CREDENTIALS_FILE), profile: prune.profile } });
}

export async function pruneBackups(target: BackupTarget, cluster: string, policy: Retention, options: { dryRun: boolean; now?: Date }): Promise<PruneResult> {
  const now = options.now ?? new Date();
  const entries = await listBackups(target, cluster);
  const decisions = planRetention(
    entries.map((entry) => ({
      id: entry.id,
      kind: entry.kind,
      status: entry.status,
      createdAt: new Date(entry.createdAt),
      lastWrittenAt: new Date(entry.lastWrittenAt),
      verified: entry.verified,
      parent: entry.manifest?.parent,
    })),
    policy,
    now,
  );
  const deleted: string[] = [];
  let abortedUploads = 0;
  const kept = new Set(decisions.filter((decision) => decision.keep).map((decision) => `${decision.kind}/${decision.id}`));
  const keptStarts = entries.flatMap((entry) => (entry.status === "complete" && kept.has(`${entry.kind}/${entry.id}`) && entry.manifest?.wal ? [entry.manifest.wal.startLsn] : []));
  const wal = planWalPrune(cluster, await target.list(walDirectory(cluster)), keptStarts);
  if (!options.dryRun) {
    for (const decision of decisions.filter((candidate) => !candidate.keep)) {
      const entry = entries.find((candidate) => candidate.id === decision.id && candidate.kind === decision.kind);
      if (!entry) continue;
      // The manifest first: a backup half-deleted by a crash is then incomplete, never "complete" with holes.
      const manifestFirst = [...entry.keys].sort((a, b) => Number(b.endsWith("/manifest.json")) - Number(a.endsWith("/manifest.json")));
      await target.remove(manifestFirst.slice(0, 1));
      await target.remove(manifestFirst.slice(1));
      deleted.push(entry.id);
    }
    // After the backups: WAL goes only once no kept backup can need it.
    await target.remove(wal.remove);
    abortedUploads = await target.abortStaleUploads(new Date(now.getTime() - INCOMPLETE_GRACE_MS));
  }
  return { decisions, deleted, walRemoved: wal.remove.length, abortedUploads, dryRun: options.dryRun };
}
