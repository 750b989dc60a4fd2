// The primary's volumes for the parallel engine (issue 15): mounted read-only into the agent and
// into a one-off physical backup job, where this engine has them. A volume this engine lacks is
// never named in a mount (Docker would make an empty one): the job then falls back to pg_basebackup.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { nodeVolumes } from "../docker/names";
import { DATA_DIR, WAL_MOUNT } from "../cluster/plan";
import { readTopology } from "../cluster/topology";

export async function primarySourceVolumes(docker: Pick<DockerClient, "volumeExists">, loaded: LoadedConfig): Promise<{ data: string; wal: string } | undefined> {
  const { config, stateDir } = loaded;
  if (config.backups.physical.engine !== "parallel") return undefined;
  const { primary } = await readTopology(stateDir);
  const volumes = nodeVolumes(config.cluster, primary, config.image.volumeSuffix);
  const [data, wal] = await Promise.all([docker.volumeExists(volumes.data), docker.volumeExists(volumes.wal)]);
  return data && wal ? volumes : undefined;
}

/** As a one-off job container's mounts: where the server has them, read-only. */
export function sourceMounts(volumes: { data: string; wal: string } | undefined): Array<{ volume: string; target: string; readOnly: true }> {
  return volumes
    ? [
        { volume: volumes.data, target: DATA_DIR, readOnly: true },
        { volume: volumes.wal, target: WAL_MOUNT, readOnly: true },
      ]
    : [];
}
