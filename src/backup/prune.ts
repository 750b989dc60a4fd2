// `pgfort backup prune`: apply the retention plan to a target; abort stale multipart uploads.
import type { Retention } from "../config/schema";
import { listBackups } from "./catalog";
import { INCOMPLETE_GRACE_MS, planRetention, type RetentionDecision } from "./retention";
import type { BackupTarget } from "./targets/target";

export interface PruneResult {
  decisions: RetentionDecision[];
  deleted: string[];
  abortedUploads: number;
  dryRun: boolean;
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
    })),
    policy,
    now,
  );
  const deleted: string[] = [];
  let abortedUploads = 0;
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
    abortedUploads = await target.abortStaleUploads(new Date(now.getTime() - INCOMPLETE_GRACE_MS));
  }
  return { decisions, deleted, abortedUploads, dryRun: options.dryRun };
}
