// One manager per cluster: a cluster that runs as a Compose project (`pgfort compose`, then `docker
// compose up`) is changed through pgfort.yaml, `pgfort compose` and Compose. pgfort's commands that
// create, replace or stop its containers would fight Compose (a fenced primary started again by the
// next `up -d`; a container name Compose can no longer create), so they refuse and say what to do.
import type { DockerClient } from "../docker/client";
import { composeProjectOf } from "../docker/labels";
import { containerName } from "../docker/names";
import { ConfigError } from "../errors";

export async function refuseComposeManaged(docker: Pick<DockerClient, "inspectContainerIfExists">, cluster: string, node: string, action: string, instead: string): Promise<void> {
  const container = containerName(cluster, node);
  const project = composeProjectOf(await docker.inspectContainerIfExists(container));
  if (project) throw new ConfigError(`${container} belongs to the Compose project ${project} (pgfort compose): pgfort does not ${action} under Compose`, instead);
}
