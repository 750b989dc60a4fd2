// Which primary a replica's data came from, and what `up` does when the primary has changed since.
import { LABEL_UPSTREAM } from "../docker/labels";
import { containerName } from "../docker/names";

/** What is known of an existing replica: its data volume's labels and its container's env, each if present. */
export interface ReplicaEvidence {
  volumeLabels: Record<string, string> | undefined;
  containerEnv: string[] | undefined;
}

/**
 * The node a replica's data was copied from: the data volume's label, else (volumes created before
 * pgfort labelled them) the container's PGFORT_PRIMARY_HOST, else "primary", the only primary
 * there was before a promotion. Undefined when the replica has no data at all. Pure.
 */
export function recordedUpstream(cluster: string, evidence: ReplicaEvidence): string | undefined {
  const label = evidence.volumeLabels?.[LABEL_UPSTREAM];
  if (label) return label;
  const host = evidence.containerEnv?.find((entry) => entry.startsWith("PGFORT_PRIMARY_HOST="))?.split("=")[1];
  const prefix = containerName(cluster, "");
  if (host?.startsWith(prefix)) return host.slice(prefix.length);
  return evidence.volumeLabels || evidence.containerEnv ? "primary" : undefined;
}

/**
 * A replica whose data came from another node than the current primary is re-created from the
 * current one: after a promotion its timeline forked (the old primary may have written WAL the
 * new one never saw, even its shutdown checkpoint), so re-pointing it could replay a history the
 * new primary does not have. A fresh base backup is always consistent. Pure.
 */
export function mustRecreate(currentPrimary: string, upstream: string | undefined): boolean {
  return upstream !== undefined && upstream !== currentPrimary;
}
