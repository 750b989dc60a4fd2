// Where a backup's files live, the same under file:// and s3://:
//   <target prefix>/<cluster>/<kind>/<YYYYMMDDTHHMMSSZ>-<shortid>/{data files, manifest.json, verify-*.json}
// Pure.

export type BackupKind = "logical" | "physical";
export type Compression = "zstd" | "lz4" | "none";

export const MANIFEST_FILE = "manifest.json";
/** The single verdict file of versions before write-once verdicts; still read. */
export const LEGACY_VERIFY_FILE = "verify.json";

const VERDICT_PATTERN = /^verify-\d{8}T\d{9}Z-[0-9a-f]{6}\.json$/;

/**
 * One new file per drill (writes are write-once): verify-<UTC stamp with milliseconds>-<random>.json,
 * so names sort in time order and two drills never pick the same name.
 */
export function verdictFileName(now: Date, shortId: string): string {
  return `verify-${now.toISOString().replace(/[-:.]/g, "")}-${shortId}.json`;
}

export function isVerdictFile(name: string): boolean {
  return name === LEGACY_VERIFY_FILE || VERDICT_PATTERN.test(name);
}

const ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([0-9a-f]{6})$/;

export function newBackupId(now: Date, shortId: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  return `${stamp}-${shortId}`;
}

export function isBackupId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The time a backup id was taken at. */
export function createdAtOf(id: string): Date {
  const match = ID_PATTERN.exec(id);
  if (!match) throw new Error(`not a backup id: ${id}`);
  const [, year, month, day, hour, minute, second] = match;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
}

export function backupDirectory(cluster: string, kind: BackupKind, id: string): string {
  return `${cluster}/${kind}/${id}/`;
}

export interface BackupKey {
  cluster: string;
  kind: BackupKind;
  id: string;
  file: string;
}

/** Reads a key relative to the target root; undefined for keys that are not a backup's file. */
export function parseBackupKey(key: string): BackupKey | undefined {
  const parts = key.split("/");
  if (parts.length !== 4) return undefined;
  const [cluster = "", kind = "", id = "", file = ""] = parts;
  if ((kind !== "logical" && kind !== "physical") || !isBackupId(id) || !file) return undefined;
  return { cluster, kind, id, file };
}

/** The suffix of a file encrypted with age, after the compression's. */
export const ENCRYPTION_SUFFIX = ".age";

export function compressionSuffix(compression: Compression): string {
  return compression === "zstd" ? ".zst" : compression === "lz4" ? ".lz4" : "";
}

/** A file name for a database's dump: the name itself when it is plain, else percent-encoded. */
export function databaseFileName(database: string, extension: string): string {
  const safe = /^[A-Za-z0-9_.-]+$/.test(database) && !database.startsWith(".") ? database : encodeURIComponent(database).replace(/\./g, "%2E");
  return `${safe}${extension}`;
}
