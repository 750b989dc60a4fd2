// The agent on a swarm (issue 14): the container `up` makes on one host (src/cluster/agent-container.ts)
// as a service pinned to the primary's node. There it shares the primary's socket volume (the
// server's socket, and the spool its archive_command fills: WAL archiving works as on one host) and,
// for the parallel engine, the primary's volumes. Its config file and S3 credentials are Swarm
// secrets beside the servers' files, so /run/secrets holds what the secrets volume would. It has no
// Docker socket on a swarm either: its jobs and drills run in its own process.
//
// Only for an s3:// target: a file:// target would be a directory on the primary's node, lost with
// that node and left behind by a promotion. Pure.
import type { LoadedConfig } from "../config/load";
import type { ContainerCreateOptions } from "../docker/client";
import { containerName, nodeVolumes } from "../docker/names";
import { AGENT_CONFIG_FILE, AWS_CREDENTIALS_FILE } from "../agent/contract";
import { planAgentConfig, planAgentEnv } from "../agent/plan";
import { agentConfigDigest, planAgentContainer } from "../cluster/agent-container";

export interface SwarmAgentInputs {
  /** The user's pgfort.yaml as written; undefined for built-in defaults. */
  configText: string | undefined;
  /** The node that is the primary (topology.json). */
  primary: string;
  /** The swarm node the primary runs on: the agent is pinned there. */
  swarmNode: string;
  /** The server nodes that run (a fenced former primary is not one). */
  servers: readonly string[];
  /** The servers' secret files by name: the agent reads the same (TLS client files, passwords, identity). */
  serverSecrets: ReadonlyMap<string, string>;
  /** The S3 credentials file (src/cluster/agent.ts agentCredentials), if there is one. */
  credentials: string | undefined;
  /** What a job needs to reach S3 (src/handoff/s3-access.ts), the endpoint as the nodes reach it. */
  s3Env: Record<string, string>;
}

export interface SwarmAgentPlan {
  create: ContainerCreateOptions;
  swarmNode: string;
  /** Every file the agent finds under /run/secrets. */
  secrets: Map<string, string>;
}

/** Why the agent does not run on this swarm config; undefined when it does. */
export function swarmAgentAbsence(config: LoadedConfig["config"]): string | undefined {
  if (config.backups.target.startsWith("s3://")) return undefined;
  return `agent: not deployed on a swarm for backups.target ${config.backups.target}: a file:// target would be a directory on the primary's node, lost with it; set an s3:// target to get scheduled backups, drills, WAL archiving and metrics`;
}

export function planSwarmAgent(loaded: LoadedConfig, inputs: SwarmAgentInputs): SwarmAgentPlan {
  const { config } = loaded;
  const agentConfig = planAgentConfig(loaded, inputs.configText, inputs.primary, inputs.servers, (node) => containerName(config.cluster, node));
  const secrets = new Map(inputs.serverSecrets);
  secrets.set(AGENT_CONFIG_FILE, `${JSON.stringify(agentConfig, null, 2)}\n`);
  if (inputs.credentials) secrets.set(AWS_CREDENTIALS_FILE, inputs.credentials);
  const { create } = planAgentContainer(config, {
    imageId: undefined,
    targetDirectory: undefined,
    configDigest: agentConfigDigest({ configText: agentConfig.configText, target: agentConfig.target, credentials: inputs.credentials, servers: agentConfig.servers }),
    env: planAgentEnv(config.backups.target, inputs.s3Env),
    // The primary's volumes are on the agent's node: the parallel engine reads them there.
    sourceVolumes: config.backups.physical.engine === "parallel" ? nodeVolumes(config.cluster, inputs.primary, config.image.volumeSuffix) : undefined,
  });
  return { create, swarmNode: inputs.swarmNode, secrets };
}
