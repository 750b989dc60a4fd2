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

/** Where the cluster's socket volume is mounted in servers and the agent (images/postgres/entrypoint-lib.sh: shared_socket_dir). */
export const SOCKETS_DIR = "/var/run/pgfort-sockets";

export function socketsMount(cluster: string): Mount {
  return { Type: "volume", Source: socketsVolumeName(cluster), Target: SOCKETS_DIR };
}

/** The same mount in `HostConfig.Binds` form, for job containers (src/backup/plan.ts). */
export function secretsBind(cluster: string): string {
  return `${secretsVolumeName(cluster)}:${SECRETS_DIR}:ro`;
}
