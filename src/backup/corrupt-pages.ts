// pg_basebackup verifies data checksums and names the files whose pages fail them
// ("./base/16384/16390", block 1). An operator needs the relation (app.public.orders, or its
// index) to know what to restore or reindex: the file path is mapped back with
// pg_filenode_relation in the database the path names.
import { z } from "zod";

export interface ChecksumFailure {
  /** As pg_basebackup printed it, relative to the data directory: base/<database oid>/<filenode>[.<segment>]. */
  file: string;
  databaseOid: number;
  filenode: number;
  block: number;
}

const FAILURE_LINE = /checksum verification failed in file "\.\/(base\/(\d+)\/(\d+)(?:\.\d+)?)", block (\d+)/g;

/** The checksum failures pg_basebackup reported, each file and block once. Pure. */
export function parseChecksumFailures(stderr: string): ChecksumFailure[] {
  const seen = new Map<string, ChecksumFailure>();
  for (const [, file = "", databaseOid = "", filenode = "", block = ""] of stderr.matchAll(FAILURE_LINE)) {
    seen.set(`${file}:${block}`, { file, databaseOid: Number(databaseOid), filenode: Number(filenode), block: Number(block) });
  }
  return [...seen.values()];
}

/** A query in one database of the server that failed (the relation lives in the database the path names). */
export type QueryIn = <Row>(database: string, sql: string, row: z.ZodType<Row>) => Promise<Row[]>;

const DatabaseRow = z.object({ datname: z.string() });
const RelationRow = z.object({ relation: z.string().nullable() });

/**
 * "database.schema.relation (file, block N)" for each failure; a file whose relation cannot be
 * found (dropped since, or the server unreachable) keeps its path alone. Never throws: it only
 * makes an error message more precise.
 */
export async function nameCorruptRelations(query: QueryIn, failures: ChecksumFailure[]): Promise<string[]> {
  const names: string[] = [];
  for (const failure of failures) {
    const where = `${failure.file}, block ${failure.block}`;
    try {
      const [database] = await query("postgres", `SELECT datname FROM pg_database WHERE oid = ${failure.databaseOid}`, DatabaseRow);
      if (!database) throw new Error("no such database");
      // Tablespace 0: the database's default tablespace, which is where base/<oid>/ files live.
      const [row] = await query(
        database.datname,
        `SELECT format('%s.%s', n.nspname, c.relname) AS relation FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_filenode_relation(0, ${failure.filenode})`,
        RelationRow,
      );
      names.push(row?.relation ? `${database.datname}.${row.relation} (${where})` : where);
    } catch {
      names.push(where);
    }
  }
  return names;
}
