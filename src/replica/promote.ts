// `pgfort replica promote NAME`: fence the old primary, promote the standby, record the new primary.
import { z } from "zod";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { objectName } from "../docker/labels";
import { refuseComposeManaged } from "../cluster/compose-guard";
import { ConfigError, ContainerError, PostgresError } from "../errors";
import { queryRows, runSql } from "../cluster/sql";
import { readTopology, writeTopology } from "../cluster/topology";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { poolerCommand, poolerRunning } from "../pooler/console";
import { followPrimary } from "../pooler/up";

export interface PromoteResult {
  primary: string;
  former: string;
  fenced: boolean;
  /** The pooler paused its clients during the promotion and now serves the new primary. */
  poolerFollowed: boolean;
}

const RecoveryRow = z.object({ in_recovery: z.boolean() });

export async function promoteReplica(
  docker: DockerClient,
  loaded: LoadedConfig,
  name: string,
  confirm: (question: string) => Promise<void>,
): Promise<PromoteResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  if (name === topology.primary) throw new ConfigError(`${name} is already the primary`, "nothing to do");
  const replica = objectName(config.cluster, name);
  const former = objectName(config.cluster, topology.primary);
  const info = await docker.inspectContainerIfExists(replica);
  if (!info?.State.Running) throw new ContainerError(`${replica} is not running`, "start it (pgfort up) before promoting it");
  // Compose would start the fenced primary again at its next `up -d`: two primaries.
  await refuseComposeManaged(docker, config.cluster, name, "promote a replica", "promote by hand (docker compose stop primary, then SELECT pg_promote() on the replica) and change the project so the old primary stays stopped");
  const [state] = await queryRows(docker, replica, "SELECT pg_is_in_recovery() AS in_recovery", RecoveryRow);
  if (!state?.in_recovery) throw new ConfigError(`${replica} is not a standby`, "promote a replica that is in recovery");

  // Two writable primaries would split the data: the old one is stopped (fenced) first.
  const formerInfo = await docker.inspectContainerIfExists(former);
  const fenced = Boolean(formerInfo?.State.Running);
  if (fenced) await confirm(`${former} is still running: stop (fence) it and promote ${replica}?`);
  // The pooler's clients wait (PAUSE: every transaction finishes, no new one starts) instead of
  // failing while no server takes writes; they resume on the new primary.
  const pooler = config.pooler !== undefined && (await poolerRunning(docker, config.cluster));
  if (pooler) await poolerCommand(docker, config.cluster, "PAUSE");
  try {
    if (fenced) await docker.stopContainer(former, 60);
    await runSql(docker, replica, "SELECT pg_promote(true, 60);");
    await waitWritable(docker, replica, 60_000);
    await writeTopology(stateDir, { primary: name, promotedAt: new Date().toISOString() });
    if (pooler) await followPrimary(docker, loaded, name);
  } finally {
    if (pooler) await poolerCommand(docker, config.cluster, "RESUME");
  }
  return { primary: replica, former, fenced, poolerFollowed: pooler };
}

/** A promoted server accepts writes once it is out of recovery and can assign a transaction id. */
async function waitWritable(docker: DockerClient, container: string, timeoutMs: number): Promise<void> {
  await pollUntil(
    { timeoutMs, intervalMs: 200 },
    async () => {
      const [state] = await queryRows(docker, container, "SELECT pg_is_in_recovery() AS in_recovery", RecoveryRow);
      if (!state || state.in_recovery) return NOT_YET;
      await runSql(docker, container, "SELECT txid_current();");
      return done(undefined);
    },
    () => new PostgresError(`${container} is still in recovery after promotion`, "read its log: docker logs " + container),
  );
}
