// The archive settings of a server (conf.d/25-archive.conf), from wal: in pgfort.yaml. Pure.
// Primaries and replicas archive (a replica with archive_mode = on starts archiving when it is
// promoted, on its new timeline); a restored server or a drill's does not: its WAL is not the
// cluster's, and a second timeline of the same number in the archive would mislead recovery.
import type { WalConfig } from "../config/schema";
import type { Role } from "../docker/labels";

/** The archive_command script in the server image (images/postgres/pgfort-archive-wal.sh). */
export const ARCHIVE_COMMAND_PATH = "/usr/local/bin/pgfort-archive-wal";

/**
 * PostgreSQL 17+: WAL summaries, which pg_basebackup --incremental reads, on every primary and
 * replica (a promoted one takes the next backups). A sighup setting: a reload turns it on.
 */
export function planSummarySettings(pgMajor: number, role: Role): Record<string, boolean> {
  return pgMajor >= 17 && archivesByRole(role) ? { summarize_wal: true } : {};
}

/** Whether a server of this role archives its WAL at all (a primary, or a replica once promoted), and so takes backups. */
function archivesByRole(role: Role): boolean {
  return role === "primary" || role === "replica";
}

/** The settings that make a server archive, which no override may turn on where the role does not archive. */
const ARCHIVING_SETTINGS = ["archive_mode", "archive_command", "archive_library"];

/**
 * primary.settings as a server of this role takes them: a restored server leaves out the archiving
 * ones (a user's own archive_command would push the copy's WAL, on its new timeline, into the
 * same archive as the primary's). Pure.
 */
export function planOverrides<T>(settings: Readonly<Record<string, T>>, role: Role): Record<string, T> {
  if (archivesByRole(role)) return { ...settings };
  return Object.fromEntries(Object.entries(settings).filter(([name]) => !ARCHIVING_SETTINGS.includes(name.toLowerCase())));
}

export function planArchiveSettings(wal: WalConfig, role: Role): Record<string, string | number | boolean> {
  const archives = wal.archive && archivesByRole(role);
  if (!archives) return { archive_mode: false };
  return {
    archive_mode: true,
    // %p and %f are PostgreSQL's; the bound is a plain number of bytes.
    archive_command: `${ARCHIVE_COMMAND_PATH} "%p" "%f" ${wal.maxPending}`,
    archive_timeout: `${Math.round(wal.archiveTimeout / 1000)}s`,
  };
}
