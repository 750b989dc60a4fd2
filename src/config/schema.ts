import { z } from "zod";
import cron from "node-cron";

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i;

/** "512m", "1g", "64k", "1.5g" or a number of bytes, to bytes; undefined when it is not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = SIZE_PATTERN.exec(value.trim());
  if (!match) return undefined;
  const [, amount = "", unit = ""] = match;
  return Math.round(Number(amount) * (SIZE_UNITS[unit.toLowerCase()] ?? 1));
}

/** A size in bytes, written like Docker's: 512m, 1g, 64k, or a plain number of bytes. */
export const SizeSchema = z.union([z.number(), z.string()]).transform((value, context) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    context.addIssue({ code: "custom", message: `expected a size like 512m or 1g, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/i;

/** "5s", "500ms", "1m" or a number of milliseconds, to milliseconds; undefined when it is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const match = DURATION_PATTERN.exec(value.trim());
  if (!match) return undefined;
  const [, amount = "", unit = ""] = match;
  return Math.round(Number(amount) * (DURATION_UNITS[unit.toLowerCase()] ?? 1));
}

/** A duration in milliseconds, written 500ms, 5s or 1m, or a plain number of milliseconds. */
export const DurationSchema = z.union([z.number(), z.string()]).transform((value, context) => {
  const milliseconds = parseDuration(value);
  if (milliseconds === undefined || milliseconds <= 0) {
    context.addIssue({ code: "custom", message: `expected a duration like 500ms or 5s, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return milliseconds;
});

const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
const NAME_MESSAGE = "use lowercase letters, digits and dashes, starting with a letter";

export const ResourcesSchema = z.strictObject({
  memory: SizeSchema.optional(),
  /** Swap on top of memory; 0 means none (MemorySwap = Memory). */
  swap: SizeSchema.optional(),
  swappiness: z.number().int().min(0).max(100).optional(),
  cpus: z.number().positive().max(1024).optional(),
  cpuShares: z.number().int().min(2).max(262144).optional(),
  blkioWeight: z.number().int().min(10).max(1000).optional(),
  pids: z.number().int().positive().optional(),
  shm: SizeSchema.optional(),
  nofile: z.number().int().positive().optional(),
});
export type Resources = z.infer<typeof ResourcesSchema>;

const SettingValueSchema = z.union([z.string(), z.number(), z.boolean()]);
const SettingsSchema = z
  .record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, "not a PostgreSQL setting name"), SettingValueSchema)
  .default({});
export type Settings = z.infer<typeof SettingsSchema>;

/** Resources with per-key defaults: a partial `resources:` block keeps the defaults of the keys it omits. */
function resourcesWithDefaults(defaults: Resources) {
  return ResourcesSchema.prefault({}).transform((resources): Resources => ({ ...defaults, ...resources }));
}
const MIB = 1024 ** 2;
// nofile has no default: containers inherit the daemon's limit, and asking for more than the
// daemon's own hard limit makes the container fail to start ("error setting rlimits").
const PRIMARY_RESOURCES: Resources = { memory: 1024 * MIB, swap: 0, swappiness: 0, shm: 256 * MIB, pids: 512 };
const BACKUP_RESOURCES: Resources = { memory: 512 * MIB, swap: 0, cpus: 2, pids: 256 };
// PgBouncer is one process of one thread: a core at most, little memory (a few kB per client).
const POOLER_RESOURCES: Resources = { memory: 128 * MIB, swap: 0, cpus: 1, pids: 64 };

/** The majors pgfort builds from Debian's own packages, and the suite that carries each. */
export const SUPPORTED_MAJORS = { 15: "debian:bookworm-slim", 17: "debian:trixie-slim" } as const;
export const DEFAULT_PG_MAJOR = 17;

/** The base image a major builds on by default: the Debian release that packages it (trixie past 15). */
export function defaultBase(pgMajor: number): string {
  return pgMajor <= 15 ? SUPPORTED_MAJORS[15] : SUPPORTED_MAJORS[17];
}

const ImageSchema = z
  .strictObject({
    tag: z.string().min(1).optional(),
    pgMajor: z.number().int().min(12).max(30).default(DEFAULT_PG_MAJOR),
    base: z.string().min(1).optional(),
    extensions: z.array(z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, "not a package-style extension name")).default([
      "plpython3",
    ]),
  })
  .transform((image) => ({
    ...image,
    tag: image.tag ?? `pgfort/postgres:${image.pgMajor}`,
    /** The base named in the config; unset, each major's own (defaultBase). */
    base: image.base ?? defaultBase(image.pgMajor),
    baseFromConfig: image.base !== undefined,
    /**
     * The suffix of the volumes (and conf.d) the running major uses: empty, or after `pgfort
     * upgrade` `-pg<major>`. Never read from the config: .pgfort/<cluster>/major.json sets it.
     */
    volumeSuffix: "",
  }));
export type ImageConfig = z.infer<typeof ImageSchema>;

const PrimarySchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(5432),
  /** Address the port is published on; 127.0.0.1 unless said otherwise. */
  bind: z.string().default("127.0.0.1"),
  resources: resourcesWithDefaults(PRIMARY_RESOURCES),
  settings: SettingsSchema,
  /**
   * What `up` does with an empty data volume (issue 11): initdb, or restore-latest: the newest
   * verified physical backup plus every archived WAL file (seed 004's autopilot).
   */
  bootstrap: z.enum(["initdb", "restore-latest"]).default("initdb"),
  /** engine: swarm (issue 14): the swarm node (its hostname) the primary is pinned to, where its volumes live. */
  node: z.string().min(1).optional(),
});

const ReplicaSchema = z.strictObject({
  name: z.string().regex(NAME_PATTERN, NAME_MESSAGE),
  /** Published port; none when absent (reachable on the cluster network). */
  port: z.number().int().min(1).max(65535).optional(),
  resources: ResourcesSchema.optional(),
  settings: SettingsSchema,
  /** engine: swarm: the swarm node (hostname) this replica is pinned to. */
  node: z.string().min(1).optional(),
});

export const BackupJobSchema = z.strictObject({
  name: z.string().regex(NAME_PATTERN, NAME_MESSAGE),
  kind: z.enum(["logical", "physical"]),
  schedule: z.string(),
  databases: z.array(z.string().min(1)).default([]),
  /** A restore drill after each backup; "pitr": to a random point of the recoverable window (issue 11). */
  verify: z.union([z.boolean(), z.literal("pitr")]).default(false),
  prune: z.boolean().default(false),
  /** Physical, PostgreSQL 17+: pg_basebackup --incremental against the newest physical backup (issue 12). */
  incremental: z.boolean().default(false),
  /** A chain (a full backup and its incrementals) holds at most this many: then the next is full. */
  fullEvery: z.number().int().min(1).max(1000).default(7),
});
export type BackupJob = z.infer<typeof BackupJobSchema>;

/** A bad schedule fails at start-up naming the job, not only its position in the list. */
const BackupJobWithScheduleSchema = BackupJobSchema.superRefine((job, context) => {
  if (job.incremental && job.kind !== "physical") {
    context.addIssue({ code: "custom", path: ["incremental"], message: `job ${job.name}: incremental backups are physical (kind: physical); a logical dump is always whole` });
  }
  if (!cron.validate(job.schedule)) {
    context.addIssue({
      code: "custom",
      path: ["schedule"],
      message: `job ${job.name}: ${JSON.stringify(job.schedule)} is not a cron expression, e.g. "0 3 * * *" or "*/30 * * * * *"`,
    });
  }
});

const RetentionSchema = z.strictObject({
  keepLast: z.number().int().min(1).default(3),
  daily: z.number().int().min(0).default(7),
  weekly: z.number().int().min(0).default(4),
  monthly: z.number().int().min(0).default(6),
});
export type Retention = z.infer<typeof RetentionSchema>;

const BackupsSchema = z.strictObject({
  target: z
    .string()
    .regex(/^(file|s3):\/\/./, "use file://PATH or s3://bucket/prefix")
    .default("file://./backups"),
  compression: z.enum(["zstd", "lz4", "none"]).default("zstd"),
  compressionLevel: z.number().int().min(1).max(19).default(3),
  s3: z
    .strictObject({
      endpoint: z.url().optional(),
      region: z.string().optional(),
      forcePathStyle: z.boolean().optional(),
    })
    .prefault({}),
  resources: resourcesWithDefaults(BACKUP_RESOURCES),
  /**
   * How full physical backups are taken (issue 15): `parallel` reads the data volume (mounted
   * read-only into the agent and the job) with `workers` streams under pg_backup_start/stop,
   * verifying page checksums; `basebackup` is pg_basebackup's one stream. Parallel falls back to
   * basebackup, with a line saying so, where the volume is not reachable. Incremental backups are
   * pg_basebackup's. Not the default yet: a parallel full is no parent for an incremental, and the
   * agent's mount pins the primary's volumes (README).
   */
  physical: z
    .strictObject({
      engine: z.enum(["parallel", "basebackup"]).default("basebackup"),
      /** Streams at once; absent: the backup container's CPU limit (backups.resources.cpus). */
      workers: z.number().int().min(1).max(64).optional(),
    })
    .prefault({}),
  jobs: z.array(BackupJobWithScheduleSchema).default([]),
  retention: RetentionSchema.prefault({}),
  /**
   * Prune's own S3 credentials (issue 11): an AWS shared-credentials file used only by `prune`
   * (and a job's `prune: true`), so the everyday credentials of backups and WAL archiving need no
   * delete right (S3 Object Lock, versioned buckets). Copied into the cluster's secrets.
   */
  prune: z
    .strictObject({
      credentialsFile: z.string().min(1).optional(),
      profile: z.string().min(1).default("default"),
    })
    .prefault({}),
  /**
   * Client-side encryption (issue 11): every file pgfort writes to the target - dumps, globals,
   * base backups, WAL - in age's format, to these public keys. The identity file (private keys)
   * is needed to restore and to drill; it is copied into the cluster's secrets, never the target.
   */
  encryption: z
    .strictObject({
      recipients: z.array(z.string().regex(/^age1[0-9a-z]{58}$/, "an age public key: age1 followed by 58 characters (age-keygen -y KEYFILE prints it)")).min(1),
      identityFile: z.string().min(1).optional(),
    })
    .optional(),
  timezone: z.string().default("UTC"),
});

/** Thresholds of `pgfort monitoring rules` (src/monitoring/rules.ts). */
const MonitoringSchema = z.strictObject({
  /** A cluster whose newest passed restore drill is older than this alerts. */
  drillMaxAgeDays: z.number().positive().default(7),
  replicaLagSeconds: z.number().positive().default(300),
  /** WAL a replication slot may hold back before it alerts; a stuck slot fills the disk. */
  slotRetainedBytes: SizeSchema.default(10 * 1024 ** 3),
  /** age(datfrozenxid) that alerts: wraparound stops writes at about 2^31 (2.1 billion). */
  xidAgeWarning: z.number().int().positive().max(2 ** 31).default(1_000_000_000),
});
export type MonitoringConfig = z.infer<typeof MonitoringSchema>;

// Issue 10: `ping` is a dead-man's switch (URL/start, URL, URL/fail as healthchecks.io expects),
// `webhook` gets one JSON POST per event. URLs may embed tokens: they are never logged whole.
const NotifySchema = z.strictObject({
  ping: z.url({ protocol: /^https?$/, error: "use an http:// or https:// URL" }).optional(),
  webhook: z.url({ protocol: /^https?$/, error: "use an http:// or https:// URL" }).optional(),
  /** Milliseconds: the most one notification, retries included, may add to a run. */
  timeout: DurationSchema.default(5000),
});
export type NotifyConfig = z.infer<typeof NotifySchema>;

// Issue 10: the long-running <cluster>-agent container. Its limits default to backups.resources
// (it runs the same jobs the throwaway backup containers ran).
const AgentSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(9187),
  /** Address /metrics and /healthz are published on; 127.0.0.1 unless said otherwise. */
  bind: z.string().default("127.0.0.1"),
  resources: ResourcesSchema.optional(),
});
export type AgentConfigBlock = z.infer<typeof AgentSchema>;

// Issue 11: continuous WAL archiving by the agent (src/wal/). archive_timeout bounds the data a
// lost host loses; maxPending bounds the WAL the primary keeps for a target that is down: past it
// the oldest unarchived file leaves pg_wal unarchived (a recorded, alerted gap) and the primary
// keeps running.
const WalSchema = z.strictObject({
  archive: z.boolean().default(true),
  archiveTimeout: DurationSchema.default(60_000).refine((ms) => ms === 0 || ms >= 1000, "use 0 (off) or at least 1s"),
  maxPending: SizeSchema.default(2 * 1024 ** 3).refine((bytes) => bytes >= 64 * 1024 ** 2, "use at least 64MB (4 WAL segments)"),
});
export type WalConfig = z.infer<typeof WalSchema>;

// Issue 13: TLS on every network connection. Absent certDir: pgfort issues a CA and a server
// certificate under .pgfort/<cluster>/tls/; present: server.crt, server.key and ca.crt from there.
const TlsSchema = z.strictObject({
  certDir: z.string().min(1).optional(),
});
export type TlsConfig = z.infer<typeof TlsSchema>;

// Issue 13: PgBouncer in <cluster>-pooler, reaching the primary through the socket volume. Present = enabled.
const PoolerSchema = z.strictObject({
  /** Published on primary.bind, like the primary's port. */
  port: z.number().int().min(1).max(65535).default(6432),
  poolMode: z.enum(["transaction", "session", "statement"]).default("transaction"),
  maxClientConn: z.number().int().positive().max(100_000).default(1000),
  /** Server connections per database and user (and at most per database); default: 60% of the primary's max_connections. */
  poolSize: z.number().int().positive().optional(),
  resources: resourcesWithDefaults(POOLER_RESOURCES),
});
export type PoolerConfig = z.infer<typeof PoolerSchema>;

// Issue 14: the cluster as Swarm services. The registry runs on the manager pgfort talks to, and
// the nodes pull the images from it (each node's engine must trust it: insecure-registries).
const SwarmSchema = z.strictObject({
  /** The registry's published port on the manager. */
  registryPort: z.number().int().min(1).max(65535).default(5000),
  /** The overlay network's data plane encrypted (IPsec ESP between nodes). */
  encrypted: z.boolean().default(false),
});
export type SwarmConfig = z.infer<typeof SwarmSchema>;

export const ConfigSchema = z
  .strictObject({
    cluster: z.string().regex(NAME_PATTERN, NAME_MESSAGE).max(40).default("pgfort"),
    /** Where the cluster runs (issue 14): containers on this engine, or services of the swarm it manages. */
    engine: z.enum(["docker", "swarm"]).default("docker"),
    swarm: SwarmSchema.prefault({}),
    image: ImageSchema.prefault({}),
    primary: PrimarySchema.prefault({}),
    replicas: z.array(ReplicaSchema).default([]),
    backups: BackupsSchema.prefault({}),
    wal: WalSchema.prefault({}),
    monitoring: MonitoringSchema.prefault({}),
    notify: NotifySchema.prefault({}),
    agent: AgentSchema.prefault({}),
    tls: TlsSchema.prefault({}),
    pooler: PoolerSchema.optional(),
  })
  .superRefine((config, context) => {
    const names = new Set<string>();
    for (const [index, replica] of config.replicas.entries()) {
      if (replica.name === "primary" || names.has(replica.name)) {
        context.addIssue({ code: "custom", path: ["replicas", index, "name"], message: `${replica.name} is used twice` });
      }
      names.add(replica.name);
    }
    if (config.backups.encryption && !config.backups.encryption.identityFile) {
      for (const [index, job] of config.backups.jobs.entries()) {
        if (job.verify) context.addIssue({ code: "custom", path: ["backups", "jobs", index, "verify"], message: `job ${job.name} drills its backups, which are encrypted: set backups.encryption.identityFile` });
      }
    }
    if (config.pooler && config.pooler.port === config.primary.port) {
      context.addIssue({ code: "custom", path: ["pooler", "port"], message: `${config.pooler.port} is primary.port too: choose another port for the pooler` });
    }
    if (config.engine === "swarm") {
      // A server's volumes live on one node: each server is pinned to one.
      if (!config.primary.node) context.addIssue({ code: "custom", path: ["primary", "node"], message: "engine: swarm pins each server to a node: name the primary's (its hostname in docker node ls)" });
      for (const [index, replica] of config.replicas.entries()) {
        if (!replica.node) context.addIssue({ code: "custom", path: ["replicas", index, "node"], message: `engine: swarm pins each server to a node: name replica ${replica.name}'s (its hostname in docker node ls)` });
      }
    }
    const jobs = new Set<string>();
    for (const [index, job] of config.backups.jobs.entries()) {
      if (jobs.has(job.name)) {
        context.addIssue({ code: "custom", path: ["backups", "jobs", index, "name"], message: `${job.name} is used twice` });
      }
      jobs.add(job.name);
    }
  });
export type Config = z.infer<typeof ConfigSchema>;
