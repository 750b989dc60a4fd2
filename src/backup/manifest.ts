// manifest.json (written last: its presence is what makes a backup complete). Verdicts: verdict.ts.
import { z } from "zod";
import { CollationRecordSchema } from "../collation/versions";

export const BackupFileSchema = z.object({
  name: z.string(),
  /** What the file holds: the globals, one database's dump, the base backup, or PostgreSQL's backup_manifest of it (17+). */
  content: z.enum(["globals", "database", "base", "pg-manifest"]),
  database: z.string().optional(),
  bytes: z.number().int().nonnegative(),
  /** Bytes before compression (what the tool wrote). */
  rawBytes: z.number().int().nonnegative().nullable(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.enum(["zstd", "lz4", "none", "pg_dump"]),
  /** age: encrypted after compression (the stored bytes, which the sha256 is of, are age's). */
  encryption: z.literal("age").optional(),
});
export type BackupFile = z.infer<typeof BackupFileSchema>;

export const ManifestSchema = z.object({
  formatVersion: z.literal(1),
  id: z.string(),
  cluster: z.string(),
  kind: z.enum(["logical", "physical"]),
  job: z.string().nullable(),
  source: z.string(),
  files: z.array(BackupFileSchema),
  pgVersion: z.string(),
  databases: z.array(z.string()),
  startedAt: z.string(),
  finishedAt: z.string(),
  tool: z.object({ name: z.literal("pgfort"), version: z.string() }),
  compression: z.object({ method: z.enum(["zstd", "lz4", "none", "pg_dump"]), level: z.number().nullable() }),
  /** Logical: rows per table at the dump's snapshot, per database. */
  rowCounts: z.record(z.string(), z.record(z.string(), z.number())).optional(),
  /** The public keys the files were encrypted to: a wrong identity is told which key it needs. */
  encryption: z.object({ method: z.literal("age"), recipients: z.array(z.string()) }).optional(),
  /** Physical: where the backup starts and ends in the WAL. */
  wal: z.object({ startLsn: z.string(), endLsn: z.string(), timeline: z.number() }).optional(),
  /** Physical: which engine took it (issue 15); absent: pg_basebackup. Parallel: several `base.N` files. */
  engine: z.enum(["parallel", "basebackup"]).optional(),
  /** Physical, 17+: the backup this one is an incremental of (null: a full one). src/backup/incremental.ts. */
  parent: z.string().nullable().optional(),
  /** The C library's version and each database's collation version at the backup (absent before issue 12). */
  collation: CollationRecordSchema.optional(),
});
export type BackupManifest = z.infer<typeof ManifestSchema>;
