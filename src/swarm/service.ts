// A container as `pgfort up` creates it (its ContainerCreateOptions), written as a Swarm service
// spec: the same image, environment, limits, hardening, mounts and healthcheck, pinned to one
// node, with the cluster's secrets and conf.d as Swarm secrets and configs. Where Swarm has no
// key for a setting, a warning names it. Pure.
import type { ContainerCreateOptions, Dockerode } from "../docker/client";
import { LABEL_SPEC_HASH } from "../docker/labels";
import { CONF_D_DIR } from "../cluster/plan";
import { POSTGRES_UID, SECRETS_DIR } from "../cluster/secrets";
import { parseSize } from "../config/schema";

type HostConfig = NonNullable<ContainerCreateOptions["HostConfig"]>;
type Mount = Record<string, unknown>;

/** A secret or config file in the service: the store's object and the file it becomes. */
export interface FileReference {
  /** The object's name in the swarm (its content's digest in it). */
  objectName: string;
  /** Its id, once stored. */
  objectId: string;
  /** Secrets: the file name under /run/secrets; configs: the absolute path. */
  target: string;
  mode: number;
}

export interface ServiceInputs {
  /** The image as the nodes pull it (the swarm registry's name, by digest). */
  image: string;
  /** The swarm node's hostname the service is pinned to. */
  node: string;
  secrets: readonly FileReference[];
  configs: readonly FileReference[];
  /** Replicas: 1, or 0 for a fenced former primary. */
  replicas: number;
  /** Keys Swarm cannot apply, one warning each, prefixed by the config path of the server's resources. */
  resourcesPath: string;
}

export interface PlannedService {
  spec: Dockerode.ServiceSpec;
  warnings: string[];
}

const NANOS_PER_SECOND = 1e9;

export function planSwarmService(create: ContainerCreateOptions, inputs: ServiceInputs): PlannedService {
  const host: HostConfig = create.HostConfig ?? {};
  const warnings = unsupportedKeys(host, inputs.resourcesPath);
  const labels = Object.fromEntries(Object.entries(create.Labels ?? {}).filter(([key]) => key !== LABEL_SPEC_HASH));
  const network = String(host.NetworkMode);
  const aliases = create.NetworkingConfig?.EndpointsConfig?.[network]?.Aliases ?? [];
  const spec = {
    Name: String(create.name),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: inputs.image,
        Labels: labels,
        Hostname: create.Hostname,
        Env: create.Env,
        ...(create.User ? { User: create.User } : {}),
        ...(Array.isArray(create.Entrypoint) && create.Entrypoint.length > 0 ? { Command: create.Entrypoint } : {}),
        ...(Array.isArray(create.Cmd) && create.Cmd.length > 0 ? { Args: create.Cmd } : {}),
        // The container's own check (the pooler's, the agent's), not the image's (the server's).
        ...(create.Healthcheck ? { HealthCheck: create.Healthcheck } : {}),
        ...(create.StopSignal ? { StopSignal: create.StopSignal } : {}),
        StopGracePeriod: (create.StopTimeout ?? 10) * NANOS_PER_SECOND,
        ReadOnly: Boolean(host.ReadonlyRootfs),
        Init: Boolean(host.Init),
        Mounts: planMounts(host, labels),
        Secrets: serviceFiles(inputs.secrets, "Secret"),
        Configs: serviceConfigs(inputs.configs),
        // API 1.41 (Docker 20.10): the capabilities, and the limits that are not resources.
        ...({ CapabilityDrop: host.CapDrop ?? [], Ulimits: (host.Ulimits ?? []).map((limit) => ({ Name: limit.Name, Soft: limit.Soft, Hard: limit.Hard })) } as object),
      },
      Resources: {
        Limits: {
          ...(host.NanoCpus ? { NanoCPUs: host.NanoCpus } : {}),
          ...(host.Memory ? { MemoryBytes: host.Memory } : {}),
          ...(host.PidsLimit ? { Pids: host.PidsLimit } : {}),
        } as object,
      },
      // Two servers must never share a data volume: Swarm's default restart is fine, its default update is not.
      RestartPolicy: { Condition: "any", Delay: 5 * NANOS_PER_SECOND, MaxAttempts: 0 },
      Placement: { Constraints: [`node.hostname == ${inputs.node}`] },
      ...(host.LogConfig?.Type ? { LogDriver: { Name: host.LogConfig.Type, Options: host.LogConfig.Config ?? {} } } : {}),
      Networks: [{ Target: network, Aliases: aliases }],
    },
    Mode: { Replicated: { Replicas: inputs.replicas } },
    UpdateConfig: { Parallelism: 1, Order: "stop-first", FailureAction: "pause" },
    // No IPVS needed: the service name resolves to its task's address (round robin over one).
    EndpointSpec: { Mode: "dnsrr", Ports: planPorts(host, warnings) },
  } as unknown as Dockerode.ServiceSpec;
  return { spec, warnings };
}

/**
 * Named volumes and tmpfs as service mounts; the secrets volume and conf.d become secrets and
 * configs; /dev/shm keeps its size. A volume a task creates on its node carries pgfort's labels, so
 * `status` and `down --volumes` find it there.
 */
function planMounts(host: HostConfig, labels: Record<string, string>): Mount[] {
  const mounts: Mount[] = [];
  for (const mount of host.Mounts ?? []) {
    if (mount.Type !== "volume" || mount.Target === SECRETS_DIR) continue;
    mounts.push({ Type: "volume", Source: mount.Source, Target: mount.Target, ReadOnly: Boolean(mount.ReadOnly), VolumeOptions: { Labels: labels } });
  }
  for (const [target, options] of Object.entries(host.Tmpfs ?? {})) {
    const size = /(?:^|,)size=([^,]+)/.exec(options ?? "")?.[1];
    const bytes = size ? parseSize(size) : undefined;
    mounts.push({ Type: "tmpfs", Target: target, TmpfsOptions: { ...(bytes ? { SizeBytes: bytes } : {}), Mode: 0o1777 } });
  }
  if (host.ShmSize) mounts.push({ Type: "tmpfs", Target: "/dev/shm", TmpfsOptions: { SizeBytes: host.ShmSize, Mode: 0o1777 } });
  return mounts;
}

/**
 * A published port is published on the node it runs on (host mode: dnsrr has no routing mesh), on
 * every address: Swarm has no bind address. A port `up` binds to one address (127.0.0.1 by
 * default) is therefore not published, and a warning says so.
 */
function planPorts(host: HostConfig, warnings: string[]): Array<Record<string, unknown>> {
  const ports: Array<Record<string, unknown>> = [];
  for (const [containerPort, bindings] of Object.entries(host.PortBindings ?? {})) {
    for (const binding of (bindings as Array<{ HostIp?: string; HostPort?: string }> | undefined) ?? []) {
      const published = Number(binding.HostPort);
      if (!published) continue;
      if (binding.HostIp && !["0.0.0.0", "::"].includes(binding.HostIp)) {
        warnings.push(`port ${published}: Swarm publishes on every address of the node, not only ${binding.HostIp}: not published (set bind: 0.0.0.0 to publish it on the node; apps on the overlay network need no port)`);
        continue;
      }
      ports.push({ Protocol: "tcp", TargetPort: Number.parseInt(containerPort, 10), PublishedPort: published, PublishMode: "host" });
    }
  }
  return ports;
}

/** Secrets or configs as a ContainerSpec names them: files owned by postgres. */
function serviceFiles(files: readonly FileReference[], kind: "Secret" | "Config"): Array<Record<string, unknown>> {
  return files.map((file) => ({ File: { Name: file.target, UID: String(POSTGRES_UID), GID: String(POSTGRES_UID), Mode: file.mode }, [`${kind}ID`]: file.objectId, [`${kind}Name`]: file.objectName }));
}

/** Configs as a ContainerSpec names them. */
export function serviceConfigs(configs: readonly FileReference[]): Array<Record<string, unknown>> {
  return serviceFiles(configs, "Config");
}

/** The conf.d files of a node as configs: where the server reads them. */
export function confDTarget(file: string): string {
  return `${CONF_D_DIR}/${file}`;
}

/** What `up` sets that a Swarm service cannot (API 1.41), each named by its config key. */
function unsupportedKeys(host: HostConfig, resourcesPath: string): string[] {
  const warnings: string[] = [];
  const say = (key: string, why: string) => warnings.push(`${resourcesPath}.${key}: ${why}`);
  if (host.MemorySwap !== undefined && host.MemorySwap !== -1) say("swap", "Swarm services cannot limit swap (the engine's default applies: swap up to the memory limit)");
  if (host.MemorySwappiness !== undefined) say("swappiness", "Swarm services cannot set memory swappiness");
  if (host.CpuShares) say("cpuShares", "Swarm services have no CPU shares (cpus is applied)");
  if (host.BlkioWeight) say("blkioWeight", "Swarm services have no block-IO weight");
  if ((host.SecurityOpt ?? []).some((option: string) => option.startsWith("no-new-privileges"))) {
    warnings.push("hardening no-new-privileges: Swarm services (API 1.41) cannot set it; the server runs as postgres with every capability dropped");
  }
  return warnings;
}
