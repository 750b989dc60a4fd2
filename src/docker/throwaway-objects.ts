// The throwaway objects of a cluster as the engine lists them (job containers, verify and restore
// servers, their volumes), for the reaper and for status. Reads and removals only.
import type { DockerClient } from "./client";
import { LABEL_CLUSTER, LABEL_NODE, LABEL_ROLE, THROWAWAY_ROLES } from "./labels";

export interface ThrowawayObject {
  kind: "container" | "volume";
  name: string;
  role: string;
  node: string;
  labels: Record<string, string>;
  /** Containers: "running", "exited", …; volumes: undefined. */
  state?: string;
}

export async function listThrowawayObjects(docker: DockerClient, cluster: string): Promise<ThrowawayObject[]> {
  const filters = (role: string) => ({ label: [`${LABEL_CLUSTER}=${cluster}`, `${LABEL_ROLE}=${role}`] });
  const objects: ThrowawayObject[] = [];
  for (const role of THROWAWAY_ROLES) {
    const { containers, volumes } = await docker.listLabelledObjects(filters(role));
    for (const container of containers) {
      const labels = container.Labels ?? {};
      objects.push({ kind: "container", name: (container.Names[0] ?? container.Id).replace(/^\//, ""), role, node: labels[LABEL_NODE] ?? "", labels, state: container.State });
    }
    for (const volume of volumes) {
      objects.push({ kind: "volume", name: volume.name, role, node: volume.labels[LABEL_NODE] ?? "", labels: volume.labels });
    }
  }
  return objects;
}

/** Removes one object; containers first (they hold their volumes), both gone-tolerant. */
export async function removeThrowawayObject(docker: DockerClient, object: ThrowawayObject): Promise<void> {
  if (object.kind === "container") await docker.removeContainer(object.name);
  else await docker.removeVolume(object.name);
}
