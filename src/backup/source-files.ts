// What the parallel engine copies from a data directory, and how it splits the copy: the files
// PostgreSQL's own base backup leaves out (src/backend/backup/basebackup.c: excludeFiles and
// excludeDirContents, temporary relations and files), which files carry page checksums, the
// balanced bundles the workers stream, and the WAL files a backup needs. Pure.

export interface SourceEntry {
  /** Relative to the data directory, `/`-separated. */
  path: string;
  type: "file" | "directory";
  size: number;
  mode: number;
  mtimeMs: number;
}

/** Directories whose contents are left out (the directory itself is kept, empty). */
const EMPTIED_DIRECTORIES = new Set(["pg_dynshmem", "pg_notify", "pg_replslot", "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans", "pg_wal"]);
const EXCLUDED_FILES = new Set(["postmaster.pid", "postmaster.opts", "postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label", "tablespace_map", "backup_manifest", "standby.signal", "recovery.signal"]);
/** Files without page checksums in directories of relation files. */
const NOT_CHECKSUMMED = new Set(["pg_control", "pg_filenode.map", "pg_internal.init", "PG_VERSION"]);
const RELATION_FILE = /^(\d+)(?:_(fsm|vm|init))?(?:\.(\d+))?$/;

/** Whether a base backup leaves this entry out (its parent directory is copied). */
export function isExcluded(relative: string): boolean {
  const parts = relative.split("/");
  const name = parts[parts.length - 1] ?? "";
  if (parts.length === 1 && EXCLUDED_FILES.has(name)) return true;
  if (parts.length > 1 && parts[0] !== undefined && EMPTIED_DIRECTORIES.has(parts[0])) return true;
  if (name === "pg_internal.init" || parts.some((part) => part.startsWith("pgsql_tmp"))) return true;
  // Temporary relations (t<backend>_<filenode>) vanish at a restart anyway.
  if (/^t\d+_\d+/.test(name) && (parts[0] === "base" || parts[0] === "global")) return true;
  return false;
}

/** Whether a file's pages carry checksums: relation files under base/ and global/. */
export function isChecksummed(relative: string): boolean {
  const parts = relative.split("/");
  const name = parts[parts.length - 1] ?? "";
  if (NOT_CHECKSUMMED.has(name)) return false;
  const inRelationDirectory = (parts[0] === "base" && parts.length === 3) || (parts[0] === "global" && parts.length === 2);
  return inRelationDirectory && RELATION_FILE.test(name);
}

/** The first block number of a relation file (a segment `.N` starts at N × 131072). */
export function firstBlockOf(relative: string, blocksPerSegment: number): number {
  const name = relative.slice(relative.lastIndexOf("/") + 1);
  const segment = RELATION_FILE.exec(name)?.[3];
  return segment === undefined ? 0 : Number(segment) * blocksPerSegment;
}

/**
 * Unlogged relations: only their init fork is copied (a restored server resets them from it, as
 * after a crash). `files` are every relation file path; the result is the set to leave out.
 */
export function unloggedLeftOut(paths: readonly string[]): Set<string> {
  const initForks = new Set<string>();
  for (const relative of paths) {
    const match = RELATION_FILE.exec(relative.slice(relative.lastIndexOf("/") + 1));
    if (match?.[2] === "init" && relative.startsWith("base/")) initForks.add(`${relative.slice(0, relative.lastIndexOf("/") + 1)}${match[1]}`);
  }
  const out = new Set<string>();
  if (initForks.size === 0) return out;
  for (const relative of paths) {
    const match = RELATION_FILE.exec(relative.slice(relative.lastIndexOf("/") + 1));
    if (!match || match[2] === "init") continue;
    if (initForks.has(`${relative.slice(0, relative.lastIndexOf("/") + 1)}${match[1]}`)) out.add(relative);
  }
  return out;
}

export interface Bundle {
  files: SourceEntry[];
  bytes: number;
}

/**
 * Files into bundles for `workers` workers: at least one bundle per worker, none over
 * `maxBundleBytes` unless a single file is, each file to the lightest bundle, largest first (LPT),
 * so the workers finish together as nearly as whole files allow. Bundles come largest first (the
 * longest work starts first). Directories are not bundled: the caller puts them in the first.
 */
export function planBundles(files: readonly SourceEntry[], workers: number, maxBundleBytes: number): Bundle[] {
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const count = Math.max(1, Math.min(Math.max(workers, Math.ceil(total / maxBundleBytes)), files.length || 1));
  const bundles: Bundle[] = Array.from({ length: count }, () => ({ files: [], bytes: 0 }));
  const bySize = [...files].sort((a, b) => b.size - a.size || a.path.localeCompare(b.path));
  for (const file of bySize) {
    let lightest = bundles[0]!;
    for (const bundle of bundles) if (bundle.bytes < lightest.bytes) lightest = bundle;
    lightest.files.push(file);
    lightest.bytes += file.size;
  }
  for (const bundle of bundles) bundle.files.sort((a, b) => a.path.localeCompare(b.path));
  return bundles.filter((bundle) => bundle.files.length > 0).sort((a, b) => b.bytes - a.bytes);
}

/**
 * The WAL files from the segment holding `start` to the one holding the last byte before `end`
 * (pg_basebackup -X fetch's range), on `timeline`.
 */
export function walFilesBetween(start: number, end: number, timeline: number, segmentBytes: number): string[] {
  const perId = 2 ** 32 / segmentBytes;
  const first = Math.floor(start / segmentBytes);
  const last = Math.floor(Math.max(start, end - 1) / segmentBytes);
  const names: string[] = [];
  for (let segment = first; segment <= last; segment++) {
    const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, "0");
    names.push(`${hex(timeline)}${hex(Math.floor(segment / perId))}${hex(segment % perId)}`);
  }
  return names;
}
