// `pgfort up` for the whole cluster: the primary, then the replicas of the config.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { objectName } from "../docker/labels";
import { addReplica } from "../replica/add";
import { primarySpec } from "./plan";
import { readTopology } from "./topology";
import { readHostFacts, upNode, type NodeUpResult, type UpListener } from "./up";

export async function upCluster(docker: DockerClient, loaded: LoadedConfig, listener: UpListener = {}): Promise<NodeUpResult[]> {
  const { config, stateDir } = loaded;
  const facts = await readHostFacts(docker, loaded, listener);
  const topology = await readTopology(stateDir);
  const results: NodeUpResult[] = [];
  if (topology.primary === "primary") {
    listener.onInfo?.(`starting ${objectName(config.cluster, "primary")}`);
    results.push(await upNode(docker, loaded, facts, primarySpec(config), "primary.resources"));
  } else {
    // After a promotion the former primary stays fenced: starting it would give two primaries.
    const current = objectName(config.cluster, topology.primary);
    listener.onInfo?.(`the primary is ${current} (promoted ${topology.promotedAt ?? ""}); the former primary stays stopped`);
    await docker.startContainer(current);
    await docker.waitUntilHealthy(current, 180_000);
  }
  for (const replica of config.replicas) {
    if (replica.name === topology.primary) continue;
    listener.onInfo?.(`starting replica ${objectName(config.cluster, replica.name)}`);
    results.push(await addReplica(docker, loaded, facts, replica.name, { existingIsError: false }));
  }
  return results;
}
