// Which node is the cluster's primary. `replica promote` changes it; backups and new replicas follow it.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { objectName } from "../docker/labels";

const TopologySchema = z.strictObject({ primary: z.string(), promotedAt: z.string().optional() });
export type Topology = z.infer<typeof TopologySchema>;

const DEFAULT_TOPOLOGY: Topology = { primary: "primary" };

function topologyFile(stateDir: string): string {
  return path.join(stateDir, "topology.json");
}

export async function readTopology(stateDir: string): Promise<Topology> {
  try {
    return TopologySchema.parse(JSON.parse(await readFile(topologyFile(stateDir), "utf8")));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return DEFAULT_TOPOLOGY;
    throw error;
  }
}

export async function writeTopology(stateDir: string, topology: Topology): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const temporary = `${topologyFile(stateDir)}.tmp`;
  await writeFile(temporary, `${JSON.stringify(topology, null, 2)}\n`);
  await rename(temporary, topologyFile(stateDir));
}

/** The container name of the current primary. */
export async function primaryContainer(cluster: string, stateDir: string): Promise<string> {
  return objectName(cluster, (await readTopology(stateDir)).primary);
}
