// What a backup runs: per file, the pgfort-job verb and its environment (the job engine runs it as
// a child process, src/jobs). Pure: the shell programs themselves are images/postgres/pgfort-job.sh.
import { DATA_DIR, REPLICATION_USER, SECRETS, SECRETS_DIR, SUPERUSER } from "../cluster/plan";
import type { BackupFile } from "./manifest";
import { compressionSuffix, databaseFileName, ENCRYPTION_SUFFIX, type Compression } from "./layout";

/** Logical backups read everything, globals included (role passwords): the superuser. */
export const DUMP_CREDENTIALS: Credentials = { user: SUPERUSER, secret: SECRETS.superuser.name };
/** Physical backups need the REPLICATION privilege only: the replication role. */
export const BASEBACKUP_CREDENTIALS: Credentials = { user: REPLICATION_USER, secret: SECRETS.replication.name };

/** How a logical dump is compressed: pg_dump's own (gzip, one thread) or -Z0 piped through the compressor. */
export type LogicalMode = "pipe" | "builtin";

/** The verbs of images/postgres/pgfort-job.sh: the programs a job container runs. */
export type JobVerb =
  | "dump-globals"
  | "dump-database"
  | "basebackup"
  | "compress-stdin"
  | "restore-globals"
  | "restore-database"
  | "extract-base"
  | "verify-base"
  | "combine-chain";

/** One program run in a job container: its verb and its parameters, as environment only. */
export interface JobProgram {
  verb: JobVerb;
  env: Record<string, string>;
}

export interface Artifact {
  name: string;
  /** What a tool streams (a kept backup_manifest is no artifact: it comes with the base). */
  content: Exclude<BackupFile["content"], "pg-manifest">;
  database?: string;
  compression: BackupFile["compression"];
  /** Encrypted with age after compression, to the plan's recipients. */
  encrypted: boolean;
  program: JobProgram;
}

/** backups.encryption's public keys; undefined: the files are not encrypted. */
export type EncryptionPlan = { recipients: readonly string[] } | undefined;

/** Where the identity (private keys) is in a job container: the secrets volume (src/cluster/agent.ts copies it). */
export const BACKUP_IDENTITY_FILE = "backup-identity";

export interface CompressionPlan {
  method: Compression;
  level: number;
  threads: number;
}

/** Threads for the compressor: whole CPUs of the backup container's limit (at least 1). */
export function compressionThreads(cpus: number | undefined, hostCpus: number): number {
  return Math.max(1, Math.floor(Math.min(cpus ?? hostCpus, hostCpus)));
}

export interface Credentials {
  user: string;
  secret: string;
}

/** Exact row counts of every table, at the session's snapshot, as one JSON object (tables named schema.table). */
export const ROW_COUNT_QUERY =
  "SELECT coalesce(json_object_agg(format('%s.%s', n.nspname, c.relname), " +
  "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}') " +
  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
  "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%';";

export function compressionEnv(compression: CompressionPlan, encryption: EncryptionPlan): Record<string, string> {
  return {
    PGFORT_COMPRESSION: compression.method,
    PGFORT_COMPRESSION_LEVEL: String(compression.level),
    PGFORT_COMPRESSION_THREADS: String(compression.threads),
    // Public keys: not secrets.
    ...(encryption ? { PGFORT_AGE_RECIPIENTS: encryption.recipients.join(" ") } : {}),
  };
}

export function planLogicalArtifacts(databases: readonly string[], compression: CompressionPlan, mode: LogicalMode, encryption?: EncryptionPlan): Artifact[] {
  const sealed = encryption ? ENCRYPTION_SUFFIX : "";
  const suffix = compressionSuffix(compression.method);
  const dumpSuffix = mode === "builtin" ? `.pgcustom${sealed}` : `.pgcustom${suffix}${sealed}`;
  return [
    {
      name: `globals.sql${suffix}${sealed}`,
      content: "globals",
      compression: compression.method,
      encrypted: Boolean(encryption),
      program: { verb: "dump-globals", env: compressionEnv(compression, encryption) },
    },
    ...databases.map(
      (database): Artifact => ({
        name: databaseFileName(database, dumpSuffix),
        content: "database",
        database,
        compression: mode === "builtin" ? "pg_dump" : compression.method,
        encrypted: Boolean(encryption),
        program: {
          verb: "dump-database",
          env: { ...compressionEnv(compression, encryption), PGFORT_DATABASE: database, PGFORT_DUMP_MODE: mode, PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY },
        },
      }),
    ),
  ];
}

/**
 * A base backup as one tar on stdout. stdout allows no parallel WAL stream, so WAL is fetched at
 * the end (-X fetch): the primary keeps it meanwhile (wal_keep_size), and a backup whose WAL was
 * recycled fails with pg_basebackup's "requested WAL segment ... has already been removed".
 */
export function planPhysicalArtifact(compression: CompressionPlan, label: string, encryption?: EncryptionPlan): Artifact {
  return {
    name: `base.tar${compressionSuffix(compression.method)}${encryption ? ENCRYPTION_SUFFIX : ""}`,
    content: "base",
    compression: compression.method,
    encrypted: Boolean(encryption),
    program: { verb: "basebackup", env: { ...compressionEnv(compression, encryption), PGFORT_BACKUP_LABEL: label } },
  };
}

/** How a stored file is turned back into what the tool wrote, and fed to its restore verb. */
export function planRestoreProgram(file: BackupFile, secretsDir = SECRETS_DIR): JobProgram {
  const decompression = file.compression === "pg_dump" ? "none" : file.compression;
  const decode = { PGFORT_DECOMPRESSION: decompression, ...(file.encryption === "age" ? { PGFORT_AGE_IDENTITY_FILE: `${secretsDir}/${BACKUP_IDENTITY_FILE}` } : {}) };
  if (file.content === "globals") return { verb: "restore-globals", env: decode };
  if (file.content === "base") return { verb: "extract-base", env: { ...decode, PGFORT_DATA_DIR: DATA_DIR } };
  return { verb: "restore-database", env: { ...decode, PGFORT_DATABASE: file.database ?? "postgres" } };
}

