// What `pgfort up` creates for a node: network, volumes, container spec, conf.d. Pure: config and
// facts in, desired objects out; no I/O, no randomness.
import { createHash } from "node:crypto";
import path from "node:path";
import type { Config, Resources, Settings } from "../config/schema";
import { renderConfD, type ConfFiles } from "../config/render-conf-d";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, LABEL_SPEC_HASH, type Role } from "../docker/labels";
import { containerName, networkName, nodeVolumes } from "../docker/names";
import { planResourceLimits } from "./limits";
import { SECRETS, SECRETS_DIR, SOCKETS_DIR, TLS_CA_PATH, TLS_FILES, secretsMount, socketsMount } from "./secrets";
import { tuneCpu, tuneMemory } from "./tuning";
import { planArchiveSettings, planOverrides, planSummarySettings } from "./archive-settings";

// Re-exported: the secrets' names and paths were planned here before they had a module of their own.
export { SECRETS, SECRETS_DIR, secretsDir } from "./secrets";

export const DATA_DIR = "/var/lib/postgresql/data";
export const WAL_MOUNT = "/var/lib/postgresql/wal";
export const CONF_D_DIR = "/etc/postgresql/conf.d";
export const SUPERUSER = "postgres";
export const REPLICATION_USER = "replicator";
export const DEFAULT_MAX_CONNECTIONS = 100;

/** Facts about the host that the plan depends on, read by the caller. */
export interface HostFacts {
  cpus: number;
  memoryBytes: number;
  /** Id of the image the tag points at: a rebuilt image means a changed spec. Undefined: not built (read-only commands). */
  imageId: string | undefined;
  /** The repository's default conf.d files. */
  defaultConfD: ConfFiles;
}


export interface NodeSpec {
  node: string;
  role: Role;
  resources: Resources;
  settings: Settings;
  /** Published port on the host, if any. */
  port?: number;
  extraEnv?: string[];
  /** Extra labels of the node's volumes when `up` creates them (a replica's upstream). Not part of the spec hash. */
  volumeLabels?: Record<string, string>;
}

export interface NodePlan {
  node: string;
  name: string;
  role: Role;
  volumes: { data: string; wal: string };
  confDir: string;
  confD: Map<string, string>;
  create: ContainerCreateOptions;
  specHash: string;
}

/** A node's rendered conf.d; each generation of volumes (image.volumeSuffix) has its own, as a major reads only its own settings. */
export function confDirOf(stateDir: string, node: string, generation = ""): string {
  return path.join(stateDir, `${node}${generation}`, "conf.d");
}

export function primarySpec(config: Config): NodeSpec {
  return {
    node: "primary",
    role: "primary",
    resources: config.primary.resources,
    settings: config.primary.settings,
    port: config.primary.port,
  };
}

export function planNode(config: Config, stateDir: string, facts: HostFacts, spec: NodeSpec): NodePlan {
  const { cluster } = config;
  const name = containerName(cluster, spec.node);
  const volumes = nodeVolumes(cluster, spec.node, config.image.volumeSuffix);
  const labels = clusterLabels(cluster, spec.role, spec.node);
  const confDir = confDirOf(stateDir, spec.node, config.image.volumeSuffix);
  const tuning = {
    memoryBytes: spec.resources.memory ?? facts.memoryBytes,
    cpus: spec.resources.cpus ?? facts.cpus,
    maxConnections: Number(spec.settings["max_connections"] ?? DEFAULT_MAX_CONNECTIONS),
  };
  const confD = renderConfD({
    defaults: facts.defaultConfD,
    memory: tuneMemory(tuning),
    parallelism: tuneCpu(tuning),
    overrides: planOverrides(spec.settings, spec.role),
    archive: { ...planArchiveSettings(config.wal, spec.role), ...planSummarySettings(config.image.pgMajor, spec.role) },
    ssl: planSslSettings(),
    memorySource: spec.resources.memory ? `container's memory limit (${spec.resources.memory} bytes)` : "host's memory (no limit set)",
    cpuSource: spec.resources.cpus ? `container's CPU limit (${spec.resources.cpus})` : "host's CPU count (no limit set)",
  });
  const create: ContainerCreateOptions = {
    name,
    Image: config.image.tag,
    Hostname: name,
    Labels: labels,
    Env: [
      `POSTGRES_USER=${SUPERUSER}`,
      `POSTGRES_PASSWORD_FILE=${SECRETS_DIR}/${SECRETS.superuser.name}`,
      `POSTGRES_INITDB_WALDIR=${WAL_MOUNT}/pg_wal`,
      `PGFORT_REPLICATION_USER=${REPLICATION_USER}`,
      // Its socket also in the cluster's socket volume, for the agent's jobs (docker/names.ts).
      `PGFORT_SOCKETS_DIR=${SOCKETS_DIR}`,
      // TLS required on the network (hostssl lines), and a replica's verify-full against this CA.
      `PGFORT_TLS_CA_FILE=${TLS_CA_PATH}`,
      ...(spec.extraEnv ?? []),
    ],
    ExposedPorts: { "5432/tcp": {} },
    StopTimeout: 60, // a fast shutdown checkpoints; Docker's 10 s default can cut it short
    HostConfig: {
      ...planResourceLimits(spec.resources),
      ...HARDENING,
      PortBindings: spec.port ? { "5432/tcp": [{ HostIp: config.primary.bind, HostPort: String(spec.port) }] } : {},
      Binds: [`${confDir}:${CONF_D_DIR}:ro`],
      Mounts: [
        { Type: "volume", Source: volumes.data, Target: DATA_DIR },
        { Type: "volume", Source: volumes.wal, Target: WAL_MOUNT },
        secretsMount(cluster),
        socketsMount(cluster),
      ],
      NetworkMode: networkName(cluster),
    },
    NetworkingConfig: { EndpointsConfig: { [networkName(cluster)]: { Aliases: [spec.node] } } },
  };
  const specHash = hashSpec(create, facts.imageId);
  create.Labels = { ...labels, [LABEL_SPEC_HASH]: specHash };
  return { node: spec.node, name, role: spec.role, volumes, confDir, confD, create, specHash };
}

/** conf.d/50-ssl.conf: the server's certificate and key from the secrets volume; TLS 1.2 at least. */
export function planSslSettings(): Record<string, string | boolean> {
  return {
    ssl: true,
    ssl_cert_file: `${SECRETS_DIR}/${TLS_FILES.cert}`,
    ssl_key_file: `${SECRETS_DIR}/${TLS_FILES.key}`,
    ssl_min_protocol_version: "TLSv1.2",
  };
}

/** Hardening every pgfort container gets. */
export const HARDENING = {
  CapDrop: ["ALL"],
  SecurityOpt: ["no-new-privileges:true"],
  ReadonlyRootfs: true,
  // Postgres writes its socket and the entrypoint its init socket here; everything else is volumes.
  Tmpfs: { "/var/run/postgresql": "rw,nosuid,nodev,noexec,size=16m", "/tmp": "rw,nosuid,nodev,size=64m" },
  RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
  LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "5" } },
  Init: false,
} as const;

/** A stable hash of what the container was created from: `up` recreates only when it changes. */
export function hashSpec(create: ContainerCreateOptions, imageId: string | undefined): string {
  return createHash("sha256").update(stableJson({ create, imageId })).digest("hex").slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
