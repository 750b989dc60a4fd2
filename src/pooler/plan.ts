// The pooler: PgBouncer in <cluster>-pooler, in the cluster's image, reaching the primary through
// its socket in the cluster's socket volume (no network hop, and trust there: clients authenticate
// to PgBouncer with SCRAM against the server's own pg_authid, fetched by auth_query, so no password
// file exists). TLS towards clients with the cluster's certificate. Pure: config in, files and
// container spec out.
import path from "node:path";
import type { Config, PoolerConfig } from "../config/schema";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, LABEL_SPEC_HASH } from "../docker/labels";
import { containerName, networkName } from "../docker/names";
import { planResourceLimits } from "../cluster/limits";
import { DEFAULT_MAX_CONNECTIONS, HARDENING, SUPERUSER, hashSpec } from "../cluster/plan";
import { POOLER_AUTH_FILE, SECRETS_DIR, SOCKETS_DIR, TLS_FILES, secretsMount, socketsMount } from "../cluster/secrets";

export const POOLER_NODE = "pooler";
export const POOLER_PORT = 6432;
/** Where the rendered pgbouncer.ini and hba.conf are bind-mounted (a directory: a reload sees new inodes). */
export const POOLER_CONFIG_DIR = "/etc/pgfort-pooler";
export const POOLER_FILES = { ini: "pgbouncer.ini", hba: "hba.conf" } as const;

export function poolerContainerName(cluster: string): string {
  return containerName(cluster, POOLER_NODE);
}

/** The pooler's own socket directory in the socket volume: its admin console, for pgfort and the agent. */
export function poolerSocketDir(cluster: string): string {
  return `${SOCKETS_DIR}/${poolerContainerName(cluster)}`;
}

/** The host directory of the rendered files. */
export function poolerConfigDirOf(stateDir: string): string {
  return path.join(stateDir, POOLER_NODE);
}

/** Server connections per pool: the config's, else 60% of the primary's max_connections (the rest: superuser, agent, metrics). */
export function poolSizeOf(config: Config, pooler: PoolerConfig): number {
  if (pooler.poolSize !== undefined) return pooler.poolSize;
  const maxConnections = Number(config.primary.settings["max_connections"] ?? DEFAULT_MAX_CONNECTIONS);
  return Math.max(1, Math.floor(maxConnections * 0.6));
}

/**
 * pgbouncer.ini and its hba file, for the primary `primaryNode` (after a promotion, the promoted
 * replica). PgBouncer reads both again on RELOAD; a changed host closes the old server
 * connections as they are released.
 */
export function renderPoolerFiles(config: Config, pooler: PoolerConfig, primaryNode: string): Map<string, string> {
  const poolSize = poolSizeOf(config, pooler);
  const primarySocket = `${SOCKETS_DIR}/${containerName(config.cluster, primaryNode)}`;
  const settings: Array<[string, string | number]> = [
    ["listen_addr", "0.0.0.0"],
    ["listen_port", POOLER_PORT],
    ["unix_socket_dir", poolerSocketDir(config.cluster)],
    ["unix_socket_mode", "0700"],
    ["auth_type", "hba"],
    ["auth_hba_file", `${POOLER_CONFIG_DIR}/${POOLER_FILES.hba}`],
    // The superuser's SCRAM verifier only (src/pooler/auth.ts): no password in any file.
    ["auth_file", `${SECRETS_DIR}/${POOLER_AUTH_FILE}`],
    // The SCRAM secret of the role logging in, from the server: clients use their PostgreSQL passwords.
    ["auth_query", "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1"],
    ["pool_mode", pooler.poolMode],
    ["max_client_conn", pooler.maxClientConn],
    ["default_pool_size", poolSize],
    ["max_db_connections", poolSize],
    ["reserve_pool_size", 0],
    // After a promotion the new primary is tried again at once, not after PgBouncer's default 15 s.
    ["server_login_retry", 1],
    ["client_tls_sslmode", "require"],
    ["client_tls_cert_file", `${SECRETS_DIR}/${TLS_FILES.cert}`],
    ["client_tls_key_file", `${SECRETS_DIR}/${TLS_FILES.key}`],
    // Client certificates are not asked for; PgBouncer still loads a CA, and the image has no system store.
    ["client_tls_ca_file", `${SECRETS_DIR}/${TLS_FILES.ca}`],
    ["client_tls_protocols", "secure"],
    ["admin_users", SUPERUSER],
    ["stats_users", SUPERUSER],
    // Drivers send these at startup (JDBC, psycopg); PgBouncer would refuse the connection otherwise.
    ["ignore_startup_parameters", "extra_float_digits,options"],
    ["log_connections", 0],
    ["log_disconnections", 0],
  ];
  const ini = [
    "; Rendered by pgfort from pooler: in pgfort.yaml. Do not edit: pgfort up and replica promote rewrite it.",
    "[databases]",
    `* = host=${primarySocket} port=5432 auth_user=${SUPERUSER}`,
    "",
    "[pgbouncer]",
    ...settings.map(([name, value]) => `${name} = ${value}`),
    "",
  ].join("\n");
  const hba = [
    "# Rendered by pgfort. The admin console over the pooler's socket, for the container's own user",
    "# (pgfort and the agent run as it); every network client with TLS and SCRAM.",
    `local   pgbouncer  ${SUPERUSER}  peer`,
    "hostssl all        all       0.0.0.0/0  scram-sha-256",
    "hostssl all        all       ::/0       scram-sha-256",
    "",
  ].join("\n");
  return new Map([
    [POOLER_FILES.ini, ini],
    [POOLER_FILES.hba, hba],
  ]);
}

export interface PoolerPlan {
  name: string;
  configDir: string;
  files: Map<string, string>;
  create: ContainerCreateOptions;
  specHash: string;
}

export function planPooler(config: Config, pooler: PoolerConfig, stateDir: string, primaryNode: string, imageId: string | undefined): PoolerPlan {
  const name = poolerContainerName(config.cluster);
  const labels = clusterLabels(config.cluster, "pooler", POOLER_NODE);
  const configDir = poolerConfigDirOf(stateDir);
  const socketDir = poolerSocketDir(config.cluster);
  const create: ContainerCreateOptions = {
    name,
    Image: config.image.tag,
    Hostname: name,
    Labels: labels,
    User: "999:999",
    Entrypoint: ["pgfort-pooler"],
    Cmd: [],
    Env: [`PGFORT_POOLER_CONFIG_DIR=${POOLER_CONFIG_DIR}`, `PGFORT_POOLER_SOCKET_DIR=${socketDir}`],
    ExposedPorts: { [`${POOLER_PORT}/tcp`]: {} },
    // Ready when its admin console answers (pg_isready counts an answer, not a login).
    Healthcheck: { Test: ["CMD", "pg_isready", "-q", "-h", socketDir, "-p", String(POOLER_PORT), "-d", "pgbouncer", "-U", SUPERUSER], Interval: 5e9, Timeout: 5e9, Retries: 5, StartPeriod: 10e9 },
    // SIGINT: PgBouncer's safe shutdown (waits for clients' transactions); SIGTERM would drop them.
    StopSignal: "SIGINT",
    StopTimeout: 30,
    HostConfig: {
      ...planResourceLimits(pooler.resources),
      ...HARDENING,
      PortBindings: { [`${POOLER_PORT}/tcp`]: [{ HostIp: config.primary.bind, HostPort: String(pooler.port) }] },
      Binds: [`${configDir}:${POOLER_CONFIG_DIR}:ro`],
      Mounts: [secretsMount(config.cluster), socketsMount(config.cluster)],
      NetworkMode: networkName(config.cluster),
    },
    NetworkingConfig: { EndpointsConfig: { [networkName(config.cluster)]: { Aliases: [POOLER_NODE] } } },
  };
  const specHash = hashSpec(create, imageId);
  create.Labels = { ...labels, [LABEL_SPEC_HASH]: specHash };
  return { name, configDir, files: renderPoolerFiles(config, pooler, primaryNode), create, specHash };
}
