// A one-off job container of the agent image, for when no agent runs: the agent's mounts (secrets
// read-only, a file:// target at AGENT_TARGET_DIR), the hardening of every node, backups.resources,
// no log driver, no Docker socket. Pure.
import { agentImageTag, AGENT_SCRATCH_DIR, AGENT_TARGET_DIR } from "../agent/contract";
import type { Config } from "../config/schema";
import { planResourceLimits } from "../cluster/limits";
import { HARDENING } from "../cluster/plan";
import { secretsBind, TLS_CLIENT_ENV } from "../cluster/secrets";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, objectName } from "../docker/labels";
import { networkName } from "../docker/names";

export interface JobContainerContext {
  config: Config;
  /** Container suffix and pgfort.node label: `backup-<random>`. */
  node: string;
  /** The `pgfort job …` arguments. */
  args: readonly string[];
  /** The host directory of a file:// target, bind-mounted read-write; absent for s3://. */
  targetDirectory?: string;
  /** A non-root operator's group owning that directory: the job joins it to write there. */
  targetGroup?: number | undefined;
  /**
   * "primary:<container>": join the primary's network namespace. A base backup's bytes then never
   * cross the Docker bridge (measured: the bridge made physical backups ~15% slower than
   * `docker exec` into the primary); the servers' names still resolve (the namespace's DNS).
   * "cluster": the cluster network. "none": no network (prune of a file:// target).
   */
  network: { mode: "primary"; container: string } | { mode: "cluster" } | { mode: "none" };
  hostCpus: number;
  env?: Record<string, string>;
  /** A volume of its own at AGENT_SCRATCH_DIR (a drill's scratch server); made and removed by the caller. */
  scratchVolume?: string;
  /** The pgfort.role label: backup (backups, prune), verify (drills) or restore. */
  role?: "backup" | "verify" | "restore";
  /** Volumes the job works on: a restore's new data volume (read-write), the primary's for the parallel engine (read-only). */
  mounts?: ReadonlyArray<{ volume: string; target: string; readOnly?: boolean }>;
}

export function planOneOffJobContainer(context: JobContainerContext): ContainerCreateOptions {
  const { config } = context;
  const cpus = config.backups.resources.cpus;
  const networkMode = context.network.mode === "primary" ? `container:${context.network.container}` : context.network.mode === "cluster" ? networkName(config.cluster) : "none";
  return {
    name: objectName(config.cluster, context.node),
    Image: agentImageTag(config.image.tag),
    User: "999:999",
    Cmd: ["job", ...context.args, "--stdin-lifeline"],
    Env: [...TLS_CLIENT_ENV, ...Object.entries(context.env ?? {}).map(([key, value]) => `${key}=${value}`)],
    Labels: clusterLabels(config.cluster, context.role ?? "backup", context.node),
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      // More CPUs than the host has is an error for Docker: the limit is capped at the host's count.
      ...planResourceLimits({ ...config.backups.resources, cpus: cpus === undefined ? undefined : Math.min(cpus, context.hostCpus) }),
      ...HARDENING,
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      // The job's stdout is its events; no log driver: nothing of it lands in a log file on the host.
      LogConfig: { Type: "none", Config: {} },
      Binds: [
        secretsBind(config.cluster),
        ...(context.targetDirectory ? [`${context.targetDirectory}:${AGENT_TARGET_DIR}`] : []),
        ...(context.scratchVolume ? [`${context.scratchVolume}:${AGENT_SCRATCH_DIR}`] : []),
        ...(context.mounts ?? []).map((mount) => `${mount.volume}:${mount.target}${mount.readOnly ? ":ro" : ""}`),
      ],
      NetworkMode: networkMode,
      ...(context.targetGroup !== undefined ? { GroupAdd: [String(context.targetGroup)] } : {}),
    },
  };
}
