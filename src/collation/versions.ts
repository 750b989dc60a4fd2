// Collation versions: what a backup records of the rules its text indexes were sorted by, and
// whether another C library would read them under different rules (issue 12). Pure.
//
// A libc collation's version is the C library's (glibc 2.36 on bookworm, 2.41 on trixie); an index
// built under one and read under another can silently miss rows. PostgreSQL records the version
// per database (pg_database.datcollversion) and warns on connect when the library's differs.
import { z } from "zod";

export const CollationRecordSchema = z.object({
  /** The C library's version the server ran with (gnu_get_libc_version), as PostgreSQL reports it. */
  libc: z.string().nullable(),
  databases: z.array(
    z.object({
      name: z.string(),
      /** pg_database.datlocprovider: c (libc), i (ICU), b (builtin, 17+). */
      provider: z.string(),
      /** pg_database.datcollversion: null for C and POSIX, which never change. */
      version: z.string().nullable(),
    }),
  ),
});
export type CollationRecord = z.infer<typeof CollationRecordSchema>;

/** Run on the server: the library's version, and each database's recorded one. */
export const COLLATION_RECORD_QUERY = `SELECT
  (SELECT pg_collation_actual_version(oid) FROM pg_collation
    WHERE collprovider = 'c' AND collname NOT IN ('C', 'POSIX', 'ucs_basic') AND pg_collation_actual_version(oid) IS NOT NULL
    ORDER BY oid LIMIT 1) AS libc,
  coalesce(json_agg(json_build_object('name', datname, 'provider', datlocprovider::text, 'version', datcollversion) ORDER BY datname), '[]') AS databases
  FROM pg_database`;

/** Run on the server: databases whose recorded version is not the running library's (PostgreSQL's own warning). */
export const COLLATION_MISMATCH_QUERY = `SELECT datname AS database, datcollversion AS recorded, pg_database_collation_actual_version(oid) AS actual
  FROM pg_database WHERE datcollversion IS NOT NULL AND datcollversion IS DISTINCT FROM pg_database_collation_actual_version(oid) ORDER BY datname`;

export interface CollationMismatch {
  database: string;
  recorded: string | null;
  actual: string | null;
}

/**
 * The databases of a backup whose libc collations another library version would read differently:
 * a recorded version that is not `libcNow`. ICU and builtin providers do not follow the C library.
 */
export function libcMismatches(record: CollationRecord, libcNow: string): CollationMismatch[] {
  return record.databases
    .filter((database) => database.provider === "c" && database.version !== null && database.version !== libcNow)
    .map((database) => ({ database: database.name, recorded: database.version, actual: libcNow }));
}

/** PostgreSQL's own warning for a mismatch, word for word (postinit.c): message, detail and hint. */
export function mismatchWarning(mismatch: CollationMismatch): string[] {
  return [
    `WARNING:  database "${mismatch.database}" has a collation version mismatch`,
    `DETAIL:  The database was created using collation version ${mismatch.recorded ?? "?"}, but the operating system provides version ${mismatch.actual ?? "?"}.`,
    `HINT:  Rebuild all objects in this database that use the default collation and run ALTER DATABASE ${quoteIdentifier(mismatch.database)} REFRESH COLLATION VERSION, or build PostgreSQL with the right library version.`,
  ];
}

/** The version part of `getconf GNU_LIBC_VERSION` ("glibc 2.41"); null for anything else. */
export function parseLibcVersion(getconf: string): string | null {
  return /^glibc (\d+\.\d+)\s*$/.exec(getconf.trim())?.[1] ?? null;
}

function quoteIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
