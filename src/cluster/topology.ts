// Which node is the cluster's primary. `replica promote` changes it; backups and new replicas follow it.
import path from "node:path";
import { z } from "zod";
import { objectName } from "../docker/labels";
import { StateFileError } from "../errors";
import { readJsonFile, writeJsonFileAtomic } from "../state/json-file";

const TopologySchema = z.strictObject({ primary: z.string().min(1), promotedAt: z.string().optional() });
export type Topology = z.infer<typeof TopologySchema>;

const DEFAULT_TOPOLOGY: Topology = { primary: "primary" };

function topologyFile(stateDir: string): string {
  return path.join(stateDir, "topology.json");
}

/**
 * Absent: the cluster was never promoted, so "primary" is the primary. Unreadable: an error, never
 * the default. This file is what keeps a fenced old primary down after `replica promote`; reading a
 * corrupt one as "primary" would let `up` start the old primary beside the new one (split brain).
 */
export async function readTopology(stateDir: string): Promise<Topology> {
  const file = topologyFile(stateDir);
  const read = await readJsonFile(file, TopologySchema);
  if (read.ok) return read.value;
  if (read.problem === "absent") return DEFAULT_TOPOLOGY;
  throw new StateFileError(
    `cannot tell which node is the primary: ${read.reason}`,
    `find the node that is the primary now (docker ps -a --filter label=pgfort.role=primary; a promoted replica answers 'f' to SELECT pg_is_in_recovery()) and write {"primary": "<node>"} to ${file}; delete the file only if no replica was ever promoted`,
  );
}

/** Atomic and fsynced: after a crash the file holds the old primary or the new one. */
export async function writeTopology(stateDir: string, topology: Topology): Promise<void> {
  await writeJsonFileAtomic(topologyFile(stateDir), topology, { mode: 0o644 });
}

/** The container name of the current primary. */
export async function primaryContainer(cluster: string, stateDir: string): Promise<string> {
  return objectName(cluster, (await readTopology(stateDir)).primary);
}
