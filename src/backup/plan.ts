// What a backup runs: one throwaway container per file, the pgfort-job verb and its environment,
// limits and hardening. Pure: the shell programs themselves are images/postgres/pgfort-job.sh.
import type { Config } from "../config/schema";
import { planResourceLimits } from "../cluster/limits";
import { DATA_DIR, HARDENING, REPLICATION_USER, SECRETS, SECRETS_DIR, SUPERUSER } from "../cluster/plan";
import { secretsBind } from "../cluster/secrets";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, objectName } from "../docker/labels";
import type { BackupFile } from "./manifest";
import { compressionSuffix, databaseFileName, type Compression } from "./layout";

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
  | "restore-globals"
  | "restore-database"
  | "extract-base"
  | "verify-base";

/** One program run in a job container: its verb and its parameters, as environment only. */
export interface JobProgram {
  verb: JobVerb;
  env: Record<string, string>;
}

export interface Artifact {
  name: string;
  content: BackupFile["content"];
  database?: string;
  compression: BackupFile["compression"];
  program: JobProgram;
}

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

function compressionEnv(compression: CompressionPlan): Record<string, string> {
  return {
    PGFORT_COMPRESSION: compression.method,
    PGFORT_COMPRESSION_LEVEL: String(compression.level),
    PGFORT_COMPRESSION_THREADS: String(compression.threads),
  };
}

export function planLogicalArtifacts(databases: readonly string[], compression: CompressionPlan, mode: LogicalMode): Artifact[] {
  const suffix = compressionSuffix(compression.method);
  const dumpSuffix = mode === "builtin" ? ".pgcustom" : `.pgcustom${suffix}`;
  return [
    {
      name: `globals.sql${suffix}`,
      content: "globals",
      compression: compression.method,
      program: { verb: "dump-globals", env: compressionEnv(compression) },
    },
    ...databases.map(
      (database): Artifact => ({
        name: databaseFileName(database, dumpSuffix),
        content: "database",
        database,
        compression: mode === "builtin" ? "pg_dump" : compression.method,
        program: {
          verb: "dump-database",
          env: { ...compressionEnv(compression), PGFORT_DATABASE: database, PGFORT_DUMP_MODE: mode, PGFORT_ROW_COUNT_SQL: ROW_COUNT_QUERY },
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
export function planPhysicalArtifact(compression: CompressionPlan, label: string): Artifact {
  return {
    name: `base.tar${compressionSuffix(compression.method)}`,
    content: "base",
    compression: compression.method,
    program: { verb: "basebackup", env: { ...compressionEnv(compression), PGFORT_BACKUP_LABEL: label } },
  };
}

/** How a stored file is turned back into what the tool wrote, and fed to its restore verb. */
export function planRestoreProgram(file: BackupFile): JobProgram {
  const decompression = file.compression === "pg_dump" ? "none" : file.compression;
  if (file.content === "globals") return { verb: "restore-globals", env: { PGFORT_DECOMPRESSION: decompression } };
  if (file.content === "base") return { verb: "extract-base", env: { PGFORT_DECOMPRESSION: decompression, PGFORT_DATA_DIR: DATA_DIR } };
  return { verb: "restore-database", env: { PGFORT_DECOMPRESSION: decompression, PGFORT_DATABASE: file.database ?? "postgres" } };
}

export interface ContainerContext {
  config: Config;
  primaryNode: string;
  role: "backup" | "restore" | "verify";
  node: string;
  hostCpus: number;
  credentials: Credentials;
  /** Volumes to mount (restore and verify jobs fill a new server's data volume). */
  mounts?: Array<{ volume: string; target: string }>;
  /**
   * "server" (default): join the network namespace of the server the job talks to and reach it on
   * loopback: a base backup's bytes then never cross the Docker bridge (measured: the bridge made
   * physical backups ~15% slower than `docker exec` into the primary). "none": no network at all.
   */
  network?: "server" | "none";
}

/**
 * A throwaway container from the cluster's image with the backup limits and the hardening of every
 * node, running one verb of pgfort-job with its parameters in the environment.
 */
export function planJobContainer(context: ContainerContext, program: JobProgram): ContainerCreateOptions {
  const { config } = context;
  const name = objectName(config.cluster, context.node);
  const env = {
    ...program.env,
    PGFORT_SECRET_FILE: `${SECRETS_DIR}/${context.credentials.secret}`,
    PGFORT_PGUSER: context.credentials.user,
    PGFORT_PGHOST: "127.0.0.1",
  };
  return {
    name,
    Image: config.image.tag,
    Entrypoint: ["pgfort-job"],
    Cmd: [program.verb],
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    Labels: clusterLabels(config.cluster, context.role, context.node),
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      // More CPUs than the host has is an error for Docker: the limit is capped at the host's count.
      ...planResourceLimits({ ...config.backups.resources, cpus: compressionCpus(config.backups.resources.cpus, context.hostCpus) }),
      ...HARDENING,
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      // No log driver: the backup's bytes cross only the attach stream, never a log file on the host
      // (json-file would also copy the whole dump to disk and cut throughput to a third).
      LogConfig: { Type: "none", Config: {} },
      Binds: [secretsBind(config.cluster)],
      NetworkMode: context.network === "none" ? "none" : `container:${objectName(config.cluster, context.primaryNode)}`,
      Mounts: (context.mounts ?? []).map((mount) => ({ Type: "volume" as const, Source: mount.volume, Target: mount.target })),
    },
  };
}

function compressionCpus(cpus: number | undefined, hostCpus: number): number | undefined {
  return cpus === undefined ? undefined : Math.min(cpus, hostCpus);
}
