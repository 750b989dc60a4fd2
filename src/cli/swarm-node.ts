// `pgfort swarm-node remove-volumes CLUSTER` (hidden): what `pgfort down --volumes` on a swarm runs
// on every node, as a global job in the agent image with the node's engine socket: a volume lives
// on its node and only that node's engine removes it (src/swarm/down.ts). The cluster's services
// are gone by then, so a stopped container of the cluster is garbage (Swarm may leave one behind
// for a moment) and goes first; the registry's volume is in use while it serves this job's image:
// `down` removes it afterwards.
import type { Command } from "commander";
import { DockerClient } from "../docker/client";
import { clusterFilter, LABEL_NODE, LABEL_ROLE } from "../docker/labels";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { action } from "./context";

export function registerSwarmNode(program: Command): void {
  const node = program.command("swarm-node", { hidden: true }).description("what pgfort runs on each node of a swarm");
  node
    .command("remove-volumes <cluster>")
    .description("remove this engine's volumes of the cluster (its services are gone)")
    .option("--node <name>", "only those of this server (replica remove --volumes)")
    .action(
      action<{ node?: string }>(async ({ output }, options, cluster = "") => {
        const docker = await DockerClient.connect();
        const filter = clusterFilter(cluster);
        if (options.node) filter.label.push(`${LABEL_NODE}=${options.node}`);
        const listed = await docker.listLabelledObjects(filter);
        const { containers } = listed;
        // One server's own volumes (<cluster>-<node>-data, -wal), not the node's shared socket volume its service may have labelled.
        const volumes = options.node ? listed.volumes.filter((volume) => volume.name.startsWith(`${cluster}-${options.node}-`)) : listed.volumes;
        for (const container of containers.filter((item) => item.State !== "running")) await docker.removeContainer(container.Id);
        const removed: string[] = [];
        const kept: string[] = [];
        for (const volume of volumes) {
          const registry = volume.labels[LABEL_ROLE] === "registry";
          // A container the engine is still removing holds its volume a moment longer.
          const gone = await pollUntil(
            { timeoutMs: registry ? 0 : 30_000, intervalMs: 1000 },
            async () => ((await docker.removeVolume(volume.name).then(() => true, () => false)) ? done(true) : NOT_YET),
            () => new Error("in use"),
          ).catch(() => false);
          (gone ? removed : kept).push(volume.name);
        }
        output.result({ cluster, removed, kept }, [`removed ${removed.length} volume(s)${removed.length ? `: ${removed.join(", ")}` : ""}`, ...(kept.length ? [`kept (in use): ${kept.join(", ")}`] : [])]);
      }),
    );
}
