// `pgfort down`: stop and remove a cluster's containers and network; with volumes, its data too.
import { rm } from "node:fs/promises";
import type { DockerClient } from "../docker/client";
import { clusterFilter } from "../docker/labels";

export interface DownResult {
  containers: string[];
  networks: string[];
  volumes: string[];
}

export async function down(
  docker: DockerClient,
  cluster: string,
  stateDir: string,
  options: { volumes: boolean },
): Promise<DownResult> {
  const { containers, networks, volumes } = await docker.listLabelled(clusterFilter(cluster));
  const names = containers.map((container) => (container.Names[0] ?? container.Id).replace(/^\//, ""));
  // A clean shutdown (checkpoint) first, all at once, then removal.
  await Promise.all(names.map((name) => docker.stopContainer(name, 60)));
  for (const name of names) await docker.removeContainer(name);
  for (const network of networks) await docker.removeNetwork(network);
  if (options.volumes) {
    for (const volume of volumes) await docker.removeVolume(volume);
    // The secrets belong to the data they protect; conf.d is re-rendered by the next `up`.
    await rm(stateDir, { recursive: true, force: true });
  }
  return { containers: names, networks, volumes: options.volumes ? volumes : [] };
}
