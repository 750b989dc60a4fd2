// What backups a target holds: complete ones have a manifest.json; the rest are incomplete.
import { NotFoundError } from "../errors";
import { createdAtOf, MANIFEST_FILE, parseBackupKey, VERIFY_FILE, type BackupKind } from "./layout";
import { ManifestSchema, VerifySchema, type BackupManifest, type VerifyResult } from "./manifest";
import type { BackupTarget } from "./targets/target";

export interface BackupEntry {
  id: string;
  kind: BackupKind;
  status: "complete" | "incomplete";
  createdAt: string;
  location: string;
  bytes: number;
  job: string | null;
  verified: "passed" | "failed" | null;
  /** Keys of every file under the backup's directory (for prune). */
  keys: string[];
  manifest: BackupManifest | null;
  /** Newest modification of any of its files (an incomplete backup may still be being written). */
  lastWrittenAt: string;
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
    const manifest = group.keys.includes(`${directory}${MANIFEST_FILE}`) ? await readManifest(target, `${directory}${MANIFEST_FILE}`) : null;
    const verify = group.keys.includes(`${directory}${VERIFY_FILE}`) ? await readVerify(target, `${directory}${VERIFY_FILE}`) : null;
    entries.push({
      id: group.id,
      kind: group.kind,
      status: manifest ? "complete" : "incomplete",
      createdAt: createdAtOf(group.id).toISOString(),
      location: target.locate(directory),
      bytes: group.bytes,
      job: manifest?.job ?? null,
      verified: verify ? (verify.ok ? "passed" : "failed") : null,
      keys: group.keys,
      manifest,
      lastWrittenAt: new Date(group.lastWritten).toISOString(),
    });
  }
  return entries.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

/** A manifest that does not parse makes the backup incomplete, never "complete with holes". */
async function readManifest(target: BackupTarget, key: string): Promise<BackupManifest | null> {
  const parsed = ManifestSchema.safeParse(JSON.parse((await target.readText(key)) ?? "null"));
  return parsed.success ? parsed.data : null;
}

async function readVerify(target: BackupTarget, key: string): Promise<VerifyResult | null> {
  const parsed = VerifySchema.safeParse(JSON.parse((await target.readText(key)) ?? "null"));
  return parsed.success ? parsed.data : null;
}

/** A complete backup by id, or the newest complete one (of a kind) with "latest". */
export async function findBackup(target: BackupTarget, cluster: string, id: string, kind?: BackupKind): Promise<BackupEntry & { manifest: BackupManifest }> {
  const complete = (await listBackups(target, cluster)).filter(
    (entry): entry is BackupEntry & { manifest: BackupManifest } => entry.status === "complete" && entry.manifest !== null && (!kind || entry.kind === kind),
  );
  const found = id === "latest" ? complete[0] : complete.find((entry) => entry.id === id);
  if (!found) {
    throw new NotFoundError(
      id === "latest" ? `no complete backup of cluster ${cluster} in ${target.url}` : `no complete backup ${id} of cluster ${cluster} in ${target.url}`,
      "pgfort backup list shows the backups and their ids",
    );
  }
  return found;
}
