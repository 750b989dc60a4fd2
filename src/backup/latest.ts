// The newest complete backup of each kind, for `pgfort status`.
import { listBackups } from "./catalog";
import type { BackupTarget } from "./targets/target";

export interface LatestBackup {
  id: string;
  createdAt: string;
  verified: "passed" | "failed" | null;
}

export interface LatestBackups {
  target: string;
  logical: LatestBackup | null;
  physical: LatestBackup | null;
  /** Why the target could not be read; status still answers for the containers. */
  error: string | null;
}

export async function latestBackups(target: BackupTarget, cluster: string): Promise<LatestBackups> {
  try {
    const complete = (await listBackups(target, cluster)).filter((entry) => entry.status === "complete");
    const newest = (kind: "logical" | "physical"): LatestBackup | null => {
      const entry = complete.find((candidate) => candidate.kind === kind);
      return entry ? { id: entry.id, createdAt: entry.createdAt, verified: entry.verified } : null;
    };
    return { target: target.url, logical: newest("logical"), physical: newest("physical"), error: null };
  } catch (error) {
    return { target: target.url, logical: null, physical: null, error: error instanceof Error ? error.message : String(error) };
  }
}
