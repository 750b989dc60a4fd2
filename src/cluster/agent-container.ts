// The `<cluster>-agent` container (issue 10): hardened like every node, its own limits, the secrets
// volume read-only, a file:// target bind-mounted, a scratch volume, and no Docker socket. Pure.
import { createHash } from "node:crypto";
import type { Config } from "../config/schema";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, LABEL_AGENT_CONFIG_DIGEST, LABEL_SPEC_HASH } from "../docker/labels";
import { agentContainerName, agentScratchVolumeName, networkName } from "../docker/names";
import { AGENT_DEFAULT_PORT, AGENT_PACKAGE_DIR, AGENT_SCRATCH_DIR, AGENT_TARGET_DIR, agentImageTag } from "../agent/contract";
import { planResourceLimits } from "./limits";
import { DATA_DIR, HARDENING, hashSpec, WAL_MOUNT } from "./plan";
import { POSTGRES_UID, secretsMount, socketsMount, TLS_CLIENT_ENV } from "./secrets";

export const AGENT_NODE = "agent";
/** Longer than the agent's own wait for a running job on SIGTERM (src/cli/agent.ts), shorter than `down`'s 60 s. */
export const AGENT_STOP_TIMEOUT_SECONDS = 55;
export const AGENT_JOB_STOP_TIMEOUT_SECONDS = 45;
const CONTAINER_PORT = `${AGENT_DEFAULT_PORT}/tcp`;

export interface AgentContainerInputs {
  /** Id of the agent image: a rebuilt image means a changed spec. */
  imageId: string | undefined;
  /** The host directory of a file:// target, bind-mounted read-write; undefined for s3://. */
  targetDirectory: string | undefined;
  /** A non-root operator's group owning that directory (setgid): the agent joins it to write there. */
  targetGroup?: number | undefined;
  /** Digest of the agent's config file and credentials (agentConfigDigest): a changed one re-creates the agent. */
  configDigest: string;
  /** Plain environment (planAgentEnv): never a secret. */
  env: string[];
  /** The primary's volumes, mounted read-only where its server has them: the parallel engine reads them (issue 15). */
  sourceVolumes?: { data: string; wal: string } | undefined;
}

export interface AgentContainerPlan {
  name: string;
  scratchVolume: string;
  create: ContainerCreateOptions;
  specHash: string;
}

/**
 * The agent's health is "the process answers": /healthz says 503 when backups fail, and that is
 * for the operator's monitor (the body names the job), not a reason to call the container sick.
 * The probe is a file with no import of pgfort (Node starts it in tens of milliseconds).
 */
export const AGENT_HEALTHCHECK = {
  Test: ["CMD", "/usr/local/bin/node", `${AGENT_PACKAGE_DIR}/dist/src/agent/health-probe.js`],
  Interval: 5_000_000_000,
  Timeout: 3_000_000_000,
  Retries: 3,
  StartPeriod: 30_000_000_000,
};

/**
 * `always`, not the nodes' `unless-stopped`: Docker counts `docker kill` (and `docker stop`) as a
 * manual stop, after which no policy restarts a container at once (measured on this engine,
 * 20.10); `unless-stopped` then also keeps it down across an engine restart or a reboot, and the
 * backups stop silently for good. With `always` the next engine start brings the agent back. A
 * crash (the process dies, the OOM killer) restarts it at once under either. `pgfort down` is how
 * an agent is meant to go away.
 */
export const AGENT_RESTART_POLICY = { Name: "always", MaximumRetryCount: 0 } as const;

export function planAgentContainer(config: Config, inputs: AgentContainerInputs): AgentContainerPlan {
  const { cluster, agent } = config;
  const name = agentContainerName(cluster);
  const scratchVolume = agentScratchVolumeName(cluster);
  const labels = { ...clusterLabels(cluster, "agent", AGENT_NODE), [LABEL_AGENT_CONFIG_DIGEST]: inputs.configDigest };
  const create: ContainerCreateOptions = {
    name,
    Image: agentImageTag(config.image.tag),
    Hostname: name,
    Cmd: ["agent"],
    User: `${POSTGRES_UID}:${POSTGRES_UID}`,
    Labels: labels,
    Env: [...TLS_CLIENT_ENV, ...inputs.env],
    ExposedPorts: { [CONTAINER_PORT]: {} },
    Healthcheck: AGENT_HEALTHCHECK,
    StopTimeout: AGENT_STOP_TIMEOUT_SECONDS,
    HostConfig: {
      ...planResourceLimits(config.agent.resources ?? config.backups.resources),
      ...HARDENING,
      RestartPolicy: AGENT_RESTART_POLICY,
      // Docker's init as PID 1: a drill's scratch postmaster is detached by pg_ctl and reparented to
      // PID 1 when it ends; Node would never reap it (a zombie per drill, for the agent's lifetime).
      Init: true,
      ...(inputs.targetGroup !== undefined ? { GroupAdd: [String(inputs.targetGroup)] } : {}),
      PortBindings: { [CONTAINER_PORT]: [{ HostIp: agent.bind, HostPort: String(agent.port) }] },
      Mounts: [
        secretsMount(cluster),
        // The servers' sockets: jobs reach each server as `docker exec` would, not over the bridge.
        socketsMount(cluster),
        { Type: "volume", Source: scratchVolume, Target: AGENT_SCRATCH_DIR },
        ...(inputs.targetDirectory ? [{ Type: "bind" as const, Source: inputs.targetDirectory, Target: AGENT_TARGET_DIR }] : []),
        ...(inputs.sourceVolumes
          ? [
              { Type: "volume" as const, Source: inputs.sourceVolumes.data, Target: DATA_DIR, ReadOnly: true },
              { Type: "volume" as const, Source: inputs.sourceVolumes.wal, Target: WAL_MOUNT, ReadOnly: true },
            ]
          : []),
      ],
      NetworkMode: networkName(cluster),
    },
    NetworkingConfig: { EndpointsConfig: { [networkName(cluster)]: { Aliases: [AGENT_NODE] } } },
  };
  const specHash = hashSpec(create, inputs.imageId);
  create.Labels = { ...labels, [LABEL_SPEC_HASH]: specHash };
  return { name, scratchVolume, create, specHash };
}

/**
 * What a running agent cannot pick up by itself: the config text and target (its schedules are
 * read at start), the credentials (the S3 client reads them once), and the set of servers (the
 * database metrics scrape the servers it started with). Jobs read the servers and the primary
 * from the config file before every run, so `replica add|promote|remove` need no restart for
 * backups; the next `pgfort up` re-creates the agent so its metrics follow too.
 */
export function agentConfigDigest(parts: { configText: string; target: string; credentials: string | undefined; servers: readonly string[] }): string {
  return createHash("sha256")
    .update(`${parts.configText}\0${parts.target}\0${parts.credentials ?? ""}\0${[...parts.servers].sort().join(",")}`)
    .digest("hex")
    .slice(0, 16);
}
