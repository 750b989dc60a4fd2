// The secrets pgfort generates: their file names, where they live on the host and in a container,
// and how a container mounts them. Pure.
import path from "node:path";
import type { ContainerCreateOptions } from "../docker/client";
import { secretsVolumeName, socketsVolumeName } from "../docker/names";

export const SECRETS_DIR = "/run/secrets";
/** The uid/gid of `postgres` in the image (images/postgres/Dockerfile): the only reader of the secrets. */
export const POSTGRES_UID = 999;

export interface SecretPlan {
  /** File name in the state directory's secrets/ and under /run/secrets in the container. */
  name: string;
}

export const SECRETS = {
  superuser: { name: "postgres-password" },
  replication: { name: "replication-password" },
} as const satisfies Record<string, SecretPlan>;

/** The host copy: `.pgfort/<cluster>/secrets/`, mode 0600, owned by the operator. */
export function secretsDir(stateDir: string): string {
  return path.join(stateDir, "secrets");
}

type Mount = NonNullable<NonNullable<ContainerCreateOptions["HostConfig"]>["Mounts"]>[number];

/** The read-only /run/secrets mount of every node: the `<cluster>-secrets` volume. */
export function secretsMount(cluster: string): Mount {
  return { Type: "volume", Source: secretsVolumeName(cluster), Target: SECRETS_DIR, ReadOnly: true };
}

/** The pooler's auth_file (src/pooler/auth.ts): the superuser's SCRAM verifier, when the config has a pooler. */
export const POOLER_AUTH_FILE = "pooler-users.txt";

/** The TLS files in the secrets volume (src/tls/): the server's certificate and key, and the CA clients verify it with. */
export const TLS_FILES = { cert: "tls-server.crt", key: "tls-server.key", ca: "tls-ca.crt" } as const;
export const TLS_CA_PATH = `${SECRETS_DIR}/${TLS_FILES.ca}`;
/**
 * libpq's environment in agent and job containers: verify-full against the cluster's CA on every
 * TCP connection (a Unix socket never uses TLS, so the socket volume is unaffected).
 */
export const TLS_CLIENT_ENV: readonly string[] = ["PGSSLMODE=verify-full", `PGSSLROOTCERT=${TLS_CA_PATH}`];

/** Where the cluster's socket volume is mounted in servers and the agent (images/postgres/entrypoint-lib.sh: shared_socket_dir). */
export const SOCKETS_DIR = "/var/run/pgfort-sockets";

export function socketsMount(cluster: string): Mount {
  return { Type: "volume", Source: socketsVolumeName(cluster), Target: SOCKETS_DIR };
}

/** The same mount in `HostConfig.Binds` form, for job containers (src/backup/plan.ts). */
export function secretsBind(cluster: string): string {
  return `${secretsVolumeName(cluster)}:${SECRETS_DIR}:ro`;
}
