// What backups a target holds. Complete: a manifest.json that parses, matches its schema, names its
// own directory and lists only files that are there. Anything else is incomplete, with the reason:
// one corrupt file (a truncated upload, a hand edit) never stops list, prune, verify or restore.
import { NotFoundError } from "../errors";
import { parseJsonText, type JsonReadResult } from "../state/json-file";
import { createdAtOf, isVerdictFile, MANIFEST_FILE, parseBackupKey, type BackupKind } from "./layout";
import { ManifestSchema, type BackupManifest } from "./manifest";
import type { BackupTarget } from "./targets/target";
import { currentVerdict, StoredVerdictSchema, type VerdictReading } from "./verdict";
import { markBrokenChains } from "./incremental";

export interface BackupEntry {
  id: string;
  kind: BackupKind;
  status: "complete" | "incomplete";
  /** Why it is incomplete, or why its verdict is unknown; null when there is nothing to say. */
  reason: string | null;
  createdAt: string;
  location: string;
  bytes: number;
  job: string | null;
  /** The newest verdict of a drill that ran to its end. */
  verified: "passed" | "failed" | null;
  verifiedAt: string | null;
  /** Keys of every file under the backup's directory (for prune). */
  keys: string[];
  manifest: BackupManifest | null;
  /** Newest modification of any of its files (an incomplete backup may still be being written). */
  lastWrittenAt: string;
}

export interface BackupDirectory {
  cluster: string;
  kind: BackupKind;
  id: string;
  /** Names of the files in it. */
  files: string[];
}

/** A manifest read back, against the directory it was found in. Pure. */
export function classifyManifest(directory: BackupDirectory, read: JsonReadResult<BackupManifest>): { manifest: BackupManifest | null; reason: string | null } {
  if (!read.ok) {
    return { manifest: null, reason: read.problem === "absent" ? "no manifest.json (the backup did not finish, or is still running)" : read.reason };
  }
  const manifest = read.value;
  const mismatches = (["id", "cluster", "kind"] as const).filter((field) => manifest[field] !== directory[field]);
  if (mismatches.length > 0) {
    const detail = mismatches.map((field) => `${field} ${JSON.stringify(manifest[field])} (directory: ${JSON.stringify(directory[field])})`).join(", ");
    return { manifest: null, reason: `manifest.json belongs to another backup: ${detail}` };
  }
  // A name with a slash could make restore read outside the backup's directory.
  const unsafe = manifest.files.filter((file) => file.name.includes("/") || file.name === "." || file.name === ".." || file.name === "");
  if (unsafe.length > 0) return { manifest: null, reason: `manifest.json names files outside its directory: ${unsafe.map((file) => JSON.stringify(file.name)).join(", ")}` };
  const missing = manifest.files.filter((file) => !directory.files.includes(file.name));
  if (missing.length > 0) return { manifest: null, reason: `files listed in manifest.json are missing: ${missing.map((file) => file.name).join(", ")}` };
  if (manifest.files.length === 0) return { manifest: null, reason: "manifest.json lists no files" };
  return { manifest, reason: null };
}

export async function listBackups(target: BackupTarget, cluster: string): Promise<BackupEntry[]> {
  const groups = new Map<string, { kind: BackupKind; id: string; keys: string[]; bytes: number; lastWritten: number }>();
  for (const object of await target.list(`${cluster}/`)) {
    const key = parseBackupKey(object.key);
    if (!key || key.cluster !== cluster) continue;
    const directory = `${cluster}/${key.kind}/${key.id}/`;
    const group = groups.get(directory) ?? { kind: key.kind, id: key.id, keys: [], bytes: 0, lastWritten: 0 };
    group.keys.push(object.key);
    group.bytes += object.bytes;
    group.lastWritten = Math.max(group.lastWritten, object.modifiedAt.getTime());
    groups.set(directory, group);
  }
  const entries: BackupEntry[] = [];
  for (const [directory, group] of groups) {
    const files = group.keys.map((key) => key.slice(directory.length));
    const manifestText = files.includes(MANIFEST_FILE) ? await target.readText(`${directory}${MANIFEST_FILE}`) : undefined;
    const { manifest, reason } = classifyManifest(
      { cluster, kind: group.kind, id: group.id, files },
      parseJsonText(manifestText, ManifestSchema, `${directory}${MANIFEST_FILE}`),
    );
    const readings: VerdictReading[] = [];
    for (const file of files.filter(isVerdictFile)) {
      readings.push({ file, read: parseJsonText(await target.readText(`${directory}${file}`), StoredVerdictSchema, `${directory}${file}`) });
    }
    const verdict = currentVerdict(readings);
    entries.push({
      id: group.id,
      kind: group.kind,
      status: manifest ? "complete" : "incomplete",
      reason: reason ?? verdict.problem,
      createdAt: createdAtOf(group.id).toISOString(),
      location: target.locate(directory),
      bytes: group.bytes,
      job: manifest?.job ?? null,
      verified: verdict.verified,
      verifiedAt: verdict.verifiedAt,
      keys: group.keys,
      manifest,
      lastWrittenAt: new Date(group.lastWritten).toISOString(),
    });
  }
  return markBrokenChains(entries.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id)));
}

/** A complete backup by id, or the newest complete one (of a kind) with "latest". */
export async function findBackup(target: BackupTarget, cluster: string, id: string, kind?: BackupKind): Promise<BackupEntry & { manifest: BackupManifest }> {
  const entries = await listBackups(target, cluster);
  const complete = entries.filter(
    (entry): entry is BackupEntry & { manifest: BackupManifest } => entry.status === "complete" && entry.manifest !== null && (!kind || entry.kind === kind),
  );
  const found = id === "latest" ? complete[0] : complete.find((entry) => entry.id === id);
  if (!found) {
    const incomplete = entries.find((entry) => entry.id === id && entry.status === "incomplete");
    throw new NotFoundError(
      id === "latest"
        ? `no complete backup of cluster ${cluster} in ${target.url}`
        : incomplete
          ? `backup ${id} of cluster ${cluster} is incomplete: ${incomplete.reason ?? "no manifest"}`
          : `no complete backup ${id} of cluster ${cluster} in ${target.url}`,
      "pgfort backup list shows the backups, their ids and why any is incomplete",
    );
  }
  return found;
}
