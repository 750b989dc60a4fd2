// `pgfort up` for the whole cluster: the current primary, then the replicas of the config, which
// follow it. Above cluster/ and replica/ (cluster/ never imports replica/).
import { upPooler, type PoolerUpResult } from "../pooler/up";
import { syncPoolerAuth } from "../pooler/auth";
import { prepareTls } from "../tls/cluster";
import { reloadServers } from "../tls/reload";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { containerName } from "../docker/names";
import { ContainerError } from "../errors";
import { primarySpec } from "../cluster/plan";
import { readTopology } from "../cluster/topology";
import { refuseComposeManaged } from "../cluster/compose-guard";
import { prepareHostFacts, upNode, type NodeUpResult, type UpListener } from "../cluster/up";
import { addReplica } from "../replica/add";
import { upAgent, type AgentUpResult } from "../cluster/agent";
import { agentContainerName } from "../docker/names";
import { bootstrapPrimary, type BootstrapOptions, type BootstrapResult } from "./bootstrap";

export interface ClusterUpResult {
  nodes: NodeUpResult[];
  agent: AgentUpResult;
  /** The primary came back from the target (primary.bootstrap: restore-latest). */
  bootstrap: BootstrapResult | null;
  tls: TlsSummary;
  /** The pooler, when the config has one. */
  pooler: PoolerUpResult | null;
}

export interface TlsSummary {
  caFile: string;
  fingerprint: string;
  notAfter: string;
  names: string[];
  /** Names clients use that tls.certDir's certificate lacks (pgfort issues its own for all of them). */
  missingNames: string[];
  /** Servers that were running and now serve a new certificate (reloaded, not restarted). */
  reloaded: string[];
}

/** The servers, then the agent (its config file lists the servers that now exist). */
export async function upCluster(docker: DockerClient, loaded: LoadedConfig, listener: UpListener & BootstrapOptions & { reindex?: boolean } = {}): Promise<ClusterUpResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  await refuseComposeManaged(docker, config.cluster, topology.primary, "run up", "docker compose up -d in the project pgfort compose wrote; or docker compose down there first, to hand the cluster back to pgfort up (the volumes stay)");
  const facts = await prepareHostFacts(docker, loaded, listener);
  // Before any node: the certificate covers every name a client or replica uses (a promoted replica's too).
  const tls = await prepareTls(loaded, topology.primary === "primary" ? [] : [topology.primary]);
  await syncPoolerAuth(stateDir, config.pooler !== undefined);
  const results: NodeUpResult[] = [];
  let bootstrap: BootstrapResult | null = null;
  if (topology.primary === "primary") {
    bootstrap = await bootstrapPrimary(docker, loaded, listener);
    listener.onInfo?.(`starting ${containerName(config.cluster, "primary")}`);
    results.push(await upNode(docker, loaded, facts, primarySpec(config), "primary.resources", { reindex: listener.reindex, onInfo: listener.onInfo }));
  } else {
    // After a promotion the former primary stays fenced (never started: that would give two
    // primaries), and the promoted node is started as it is: its data directory, not its spec,
    // makes it a primary now.
    const current = containerName(config.cluster, topology.primary);
    listener.onInfo?.(`the primary is ${current} (promoted ${topology.promotedAt ?? ""}); the former primary stays stopped`);
    if (!(await docker.containerExists(current))) {
      throw new ContainerError(
        `the primary ${current} (promoted ${topology.promotedAt ?? ""}) has no container`,
        `restore it (pgfort restore … --as ${topology.primary}), or remove ${stateDir}/topology.json to go back to the former primary`,
      );
    }
    await docker.startContainer(current);
    await docker.waitUntilHealthy(current, 180_000);
  }
  for (const replica of config.replicas) {
    if (replica.name === topology.primary) continue;
    listener.onInfo?.(`starting replica ${containerName(config.cluster, replica.name)}`);
    results.push(
      await addReplica(docker, loaded, facts, replica.name, { existingIsError: false, onInfo: (message) => listener.onInfo?.(message) }),
    );
  }
  const pooler = await upPooler(docker, loaded, topology.primary, facts.imageId);
  listener.onInfo?.(`starting ${agentContainerName(config.cluster)}`);
  const agent = await upAgent(docker, loaded);
  // Servers that kept running read the new certificate on a reload; new containers read it at start.
  const started = new Set(
    [...results, ...(pooler ? [pooler] : [])].filter((result) => result.outcome === "created" || result.outcome === "recreated").map((result) => result.container),
  );
  const reloaded = tls.changed ? await reloadServers(docker, config.cluster, tls.facts.fingerprint, started) : [];
  return {
    nodes: results,
    agent,
    bootstrap,
    pooler: pooler ?? null,
    tls: {
      caFile: tls.caFile,
      fingerprint: tls.facts.fingerprint,
      notAfter: tls.facts.notAfter.toISOString(),
      names: tls.facts.names,
      missingNames: tls.missingNames,
      reloaded: reloaded.map((server) => server.container),
    },
  };
}
