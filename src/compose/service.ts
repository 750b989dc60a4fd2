// A container as `pgfort up` creates it (its ContainerCreateOptions), written as a Compose
// service: the same image, environment, limits, hardening, mounts and healthcheck, so a project
// exported by `pgfort compose` is what `up` would have made. Pure.
import type { ContainerCreateOptions } from "../docker/client";
import { LABEL_SPEC_HASH } from "../docker/labels";
import { SECRETS_DIR } from "../cluster/secrets";

export type ComposeService = Record<string, unknown>;

type HostConfig = NonNullable<ContainerCreateOptions["HostConfig"]>;
type Healthcheck = NonNullable<ContainerCreateOptions["Healthcheck"]>;

/** How the engine's names map to the project's: volume names to volume keys, bind sources to paths relative to the project. */
export interface ServiceNames {
  /** The project's key of an engine volume (`app-primary-data` → `primary-data`). */
  volumeKey(volume: string): string;
  /** The project's path of a host directory pgfort bind-mounts (conf.d, the pooler's config), or undefined to keep it as it is. */
  bindSource(source: string): string | undefined;
  /** The network key of the cluster's network. */
  networkKey: string;
  /** The Compose secrets in place of the secrets volume. */
  secrets: readonly string[];
}

/** Docker's nanoseconds as a Compose duration. */
export function composeDuration(nanoseconds: number | undefined): string | undefined {
  if (nanoseconds === undefined || nanoseconds === 0) return undefined;
  const milliseconds = nanoseconds / 1e6;
  return Number.isInteger(milliseconds / 1000) ? `${milliseconds / 1000}s` : `${milliseconds}ms`;
}

export function composeHealthcheck(check: Healthcheck): Record<string, unknown> {
  return dropUndefined({
    test: check.Test,
    interval: composeDuration(check.Interval),
    timeout: composeDuration(check.Timeout),
    retries: check.Retries,
    start_period: composeDuration(check.StartPeriod),
  });
}

/** The service of one container. `healthcheck` is the image's when the create options have none (a node's). */
export function planService(create: ContainerCreateOptions, names: ServiceNames, imageHealthcheck?: Healthcheck): ComposeService {
  const host: HostConfig = create.HostConfig ?? {};
  const labels = Object.fromEntries(Object.entries(create.Labels ?? {}).filter(([key]) => key !== LABEL_SPEC_HASH));
  const healthcheck = create.Healthcheck ?? imageHealthcheck;
  const aliases = create.NetworkingConfig?.EndpointsConfig?.[String(host.NetworkMode)]?.Aliases;
  return dropUndefined({
    image: create.Image,
    container_name: create.name,
    hostname: create.Hostname,
    user: create.User,
    entrypoint: create.Entrypoint,
    command: Array.isArray(create.Cmd) && create.Cmd.length > 0 ? create.Cmd : undefined,
    labels,
    environment: create.Env,
    healthcheck: healthcheck ? composeHealthcheck(healthcheck) : undefined,
    stop_signal: create.StopSignal,
    stop_grace_period: create.StopTimeout !== undefined ? `${create.StopTimeout}s` : undefined,
    restart: host.RestartPolicy?.Name,
    init: host.Init,
    read_only: host.ReadonlyRootfs,
    tmpfs: host.Tmpfs ? Object.entries(host.Tmpfs).map(([target, options]) => (options ? `${target}:${options}` : target)) : undefined,
    cap_drop: host.CapDrop,
    security_opt: host.SecurityOpt,
    group_add: host.GroupAdd,
    logging: host.LogConfig ? dropUndefined({ driver: host.LogConfig.Type, options: host.LogConfig.Config }) : undefined,
    ...planLimits(host),
    volumes: planVolumes(host, names),
    secrets: names.secrets.length > 0 ? [...names.secrets] : undefined,
    networks: { [names.networkKey]: aliases ? { aliases } : {} },
  });
}

/** Resource limits in Compose's keys (the ones docker-compose 1.29 and Compose v2 both read outside a swarm). */
export function planLimits(host: HostConfig): ComposeService {
  return dropUndefined({
    mem_limit: host.Memory,
    memswap_limit: host.MemorySwap,
    mem_swappiness: host.MemorySwappiness,
    cpus: host.NanoCpus !== undefined ? host.NanoCpus / 1e9 : undefined,
    cpu_shares: host.CpuShares,
    pids_limit: host.PidsLimit,
    shm_size: host.ShmSize,
    ulimits: host.Ulimits?.length ? Object.fromEntries(host.Ulimits.map((limit) => [limit.Name, { soft: limit.Soft, hard: limit.Hard }])) : undefined,
    blkio_config: host.BlkioWeight !== undefined ? { weight: host.BlkioWeight } : undefined,
  });
}

/** Named volumes and pgfort's bind mounts, long syntax; the secrets volume becomes the service's Compose secrets. */
function planVolumes(host: HostConfig, names: ServiceNames): Array<Record<string, unknown>> | undefined {
  const volumes: Array<Record<string, unknown>> = [];
  for (const mount of host.Mounts ?? []) {
    if (mount.Target === SECRETS_DIR) continue;
    const readOnly = mount.ReadOnly ? { read_only: true } : {};
    if (mount.Type === "volume") volumes.push({ type: "volume", source: names.volumeKey(String(mount.Source)), target: mount.Target, ...readOnly });
    else if (mount.Type === "bind") volumes.push({ type: "bind", source: names.bindSource(String(mount.Source)) ?? mount.Source, target: mount.Target, ...readOnly });
  }
  for (const bind of host.Binds ?? []) {
    const [source = "", target = "", mode] = bind.split(":");
    volumes.push({ type: "bind", source: names.bindSource(source) ?? source, target, ...(mode === "ro" ? { read_only: true } : {}) });
  }
  return volumes.length > 0 ? volumes : undefined;
}

/** `PortBindings` as Compose's `ports:` (for the dev override). */
export function planPorts(create: ContainerCreateOptions): string[] {
  return Object.entries(create.HostConfig?.PortBindings ?? {}).flatMap(([containerPort, bindings]) =>
    ((bindings as Array<{ HostIp?: string; HostPort?: string }> | undefined) ?? []).map((binding) =>
      [binding.HostIp, binding.HostPort, containerPort].filter((part) => part !== undefined && part !== "").join(":"),
    ),
  );
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}
