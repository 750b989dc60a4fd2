// What a backup runs: one throwaway container per file, its shell script, limits and hardening. Pure.
import type { Config } from "../config/schema";
import { planResourceLimits } from "../cluster/limits";
import { HARDENING, REPLICATION_USER, SECRETS, SECRETS_DIR, SUPERUSER } from "../cluster/plan";
import { secretsBind } from "../cluster/secrets";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, objectName } from "../docker/labels";
import type { BackupFile } from "./manifest";
import { compressionSuffix, databaseFileName, type Compression } from "./layout";
import path from "node:path";

/** Logical backups read everything, globals included (role passwords): the superuser. */
export const DUMP_CREDENTIALS: Credentials = { user: SUPERUSER, secret: SECRETS.superuser.name };
/** Physical backups need the REPLICATION privilege only: the replication role. */
export const BASEBACKUP_CREDENTIALS: Credentials = { user: REPLICATION_USER, secret: SECRETS.replication.name };

/** Lines the scripts write to stderr for pgfort to read; everything else on stderr is the tools' own. */
export const MARKER = {
  rawBytes: "PGFORT-RAW-BYTES ",
  rowCounts: "PGFORT-ROW-COUNTS ",
} as const;

/** How a logical dump is compressed: pg_dump's own (gzip, one thread) or -Z0 piped through the compressor. */
export type LogicalMode = "pipe" | "builtin";

export interface Artifact {
  name: string;
  content: BackupFile["content"];
  database?: string;
  compression: BackupFile["compression"];
  script: string;
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

export function compressorCommand({ method, level, threads }: CompressionPlan): string | undefined {
  if (method === "zstd") return `zstd -q -c -${level} -T${threads}`;
  if (method === "lz4") return `lz4 -q -c -${Math.min(level, 12)}`;
  return undefined;
}

export interface Credentials {
  user: string;
  secret: string;
}

/**
 * The common head of every script: fail on any error, any stage of any pipe; the password from
 * its secret file into a pgpass on tmpfs (never argv, never the environment).
 */
export function scriptHead(primaryHost: string, credentials: Credentials): string {
  return [
    "set -euo pipefail",
    // A failing command under set -e says nothing by itself: name it, so an error is never "no output".
    `trap 'status=$?; echo "pgfort: \"$BASH_COMMAND\" failed with exit status $status" >&2' ERR`,
    "umask 077",
    // The secret file has no trailing newline: read returns 1 at EOF though it read the password.
    `IFS= read -r password < ${SECRETS_DIR}/${credentials.secret} || [ -n "$password" ]`,
    `printf '*:*:*:${credentials.user}:%s\\n' "$password" > /tmp/pgpass`,
    "unset password",
    `export PGPASSFILE=/tmp/pgpass PGHOST=${primaryHost} PGPORT=5432 PGUSER=${credentials.user} PGCONNECT_TIMEOUT=10`,
  ].join("\n");
}

/**
 * `command | count raw bytes | compress` to stdout, every stage's exit status counting. dd counts
 * what the tool wrote (its report goes to a tmpfs file, printed as a marker line at the end).
 */
export function compressedPipe(command: string, compression: CompressionPlan): string {
  const compressor = compressorCommand(compression);
  const counted = `${command} | dd bs=1M iflag=fullblock 2>/tmp/raw-bytes`;
  return [
    compressor ? `${counted} | ${compressor}` : counted,
    `sed -n 's/^\\([0-9]*\\) bytes.*/${MARKER.rawBytes}\\1/p' /tmp/raw-bytes >&2`,
  ].join("\n");
}

/** Exact row counts of every table, at a snapshot, as one JSON line (tables named schema.table). */
export const ROW_COUNT_QUERY =
  "SELECT '" +
  MARKER.rowCounts +
  "' || coalesce(json_object_agg(format('%s.%s', n.nspname, c.relname), " +
  "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}') " +
  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
  "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%';";

/**
 * One database: a REPEATABLE READ transaction exports its snapshot and pg_dump dumps that same
 * snapshot. The rows of every table are counted in the snapshot too, while the dump runs (the
 * count's one-line answer waits in psql's pipe), so the counts are exactly what the dump holds
 * and cost no extra time.
 */
export function databaseScript(compression: CompressionPlan, mode: LogicalMode): string {
  const dump = mode === "builtin" ? `pg_dump -Fc -Z${compression.level > 9 ? 9 : compression.level}` : "pg_dump -Fc -Z0";
  const command = `${dump} --snapshot="$snapshot" -d "$PGFORT_DATABASE"`;
  return [
    'coproc PSQL { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$PGFORT_DATABASE"; }',
    // bash unsets PSQL and PSQL_PID the moment the coprocess ends: keep our own copies of its pipes.
    'exec {to_psql}>&"${PSQL[1]}" {from_psql}<&"${PSQL[0]}"',
    `printf '%s\\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;' 'SELECT pg_export_snapshot();' >&"$to_psql"`,
    'IFS= read -r snapshot <&"$from_psql" || { echo "could not open a snapshot of $PGFORT_DATABASE" >&2; exit 1; }',
    `printf '%s\\n' ${shellQuote(ROW_COUNT_QUERY)} >&"$to_psql"`,
    mode === "builtin" ? `${command}` : compressedPipe(command, compression),
    'IFS= read -r counts <&"$from_psql" || { echo "could not count the rows of $PGFORT_DATABASE" >&2; exit 1; }',
    'printf "%s\\n" "$counts" >&2',
    // The snapshot had to stay open until pg_dump finished; the sentinel says the session ended well.
    `printf '%s\\n' 'COMMIT;' "SELECT 'pgfort-committed';" >&"$to_psql"`,
    'IFS= read -r committed <&"$from_psql" && [ "$committed" = pgfort-committed ] || { echo "the snapshot session of $PGFORT_DATABASE failed" >&2; exit 1; }',
    'exec {to_psql}>&- {from_psql}<&-',
  ].join("\n");
}

export function planLogicalArtifacts(databases: readonly string[], compression: CompressionPlan, mode: LogicalMode): Artifact[] {
  const suffix = compressionSuffix(compression.method);
  const dumpSuffix = mode === "builtin" ? ".pgcustom" : `.pgcustom${suffix}`;
  return [
    {
      name: `globals.sql${suffix}`,
      content: "globals",
      compression: compression.method,
      script: compressedPipe("pg_dumpall --globals-only", compression),
    },
    ...databases.map(
      (database): Artifact => ({
        name: databaseFileName(database, dumpSuffix),
        content: "database",
        database,
        compression: mode === "builtin" ? "pg_dump" : compression.method,
        script: databaseScript(compression, mode),
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
  const command = `pg_basebackup -D - -F tar -X fetch --checkpoint=fast --verbose --label=${shellQuote(label)}`;
  return { name: `base.tar${compressionSuffix(compression.method)}`, content: "base", compression: compression.method, script: compressedPipe(command, compression) };
}

export interface ContainerContext {
  config: Config;
  stateDir: string;
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

/** A throwaway container from the cluster's image with the backup limits and the hardening of every node. */
export function planJobContainer(context: ContainerContext, script: string, env: string[] = []): ContainerCreateOptions {
  const { config } = context;
  const name = objectName(config.cluster, context.node);
  return {
    name,
    Image: config.image.tag,
    Entrypoint: ["bash", "-c"],
    Cmd: [`${scriptHead("127.0.0.1", context.credentials)}\n${script}`],
    Env: env,
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

/** The command that turns a stored file back into what the tool wrote. */
export function decompressorCommand(compression: BackupFile["compression"]): string {
  if (compression === "zstd") return "zstd -dc";
  if (compression === "lz4") return "lz4 -dc";
  return "cat";
}

function compressionCpus(cpus: number | undefined, hostCpus: number): number | undefined {
  return cpus === undefined ? undefined : Math.min(cpus, hostCpus);
}

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
