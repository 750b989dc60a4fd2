// Which archived WAL retention removes: everything before the start of the oldest physical backup
// retention keeps (no kept backup can replay it), never a file a kept backup needs. History files
// stay (a few bytes each; recovery reads them to follow timelines). With no physical backup kept,
// nothing is removed: WAL is what a restore would have left. Pure.
import type { StoredObject } from "../backup/targets/target";
import { parseArchiveKey, parseWalFileName, segmentOfLsn, walDirectory } from "./names";

export interface WalPrunePlan {
  /** Keys to delete, oldest first. */
  remove: string[];
  /** The first segment kept (the oldest kept backup's start), or null when nothing is removed. */
  keptFrom: string | null;
}

export function planWalPrune(cluster: string, objects: readonly StoredObject[], keptStartLsns: readonly string[]): WalPrunePlan {
  if (keptStartLsns.length === 0) return { remove: [], keptFrom: null };
  const first = keptStartLsns.map(segmentOfLsn).reduce((a, b) => (a < b ? a : b));
  const gapsDirectory = `${walDirectory(cluster)}gaps/`;
  const remove: string[] = [];
  for (const object of objects) {
    if (object.key.startsWith(gapsDirectory)) {
      // A gap record: "<WAL name>.<server>.json"; gone with the WAL it was about.
      const wal = parseWalFileName(object.key.slice(gapsDirectory.length).split(".")[0] ?? "");
      if (wal?.segment !== undefined && wal.segment < first) remove.push(object.key);
      continue;
    }
    const archived = parseArchiveKey(cluster, object.key);
    if (!archived || archived.kind === "history" || archived.segment === undefined) continue;
    if (archived.segment < first) remove.push(object.key);
  }
  return { remove: remove.sort(), keptFrom: first.toString(16).toUpperCase().padStart(16, "0") };
}
