// The collation guard of an image change (issue 12): before a primary's data directory runs on a
// new image (`pgfort build` again, another base, a changed image.tag), a private server of the new
// image opens it and PostgreSQL itself compares each database's recorded collation version with
// the new C library's. A mismatch is refused (the old server comes back as it was), or with
// `up --reindex` the indexes the library orders are rebuilt and the versions refreshed there,
// before the new server takes writes.
import { rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { DockerClient } from "../docker/client";
import { clusterLabels, LABEL_CLUSTER } from "../docker/labels";
import { CollationMismatchError, PostgresError } from "../errors";
import { ownerLabels } from "../lifecycle/owner";
import { COLLATION_MISMATCH_QUERY, type CollationMismatch } from "../collation/versions";
import type { NodePlan } from "./plan";
import { planPrivateServer, PRIVATE_CONF_FILE, privateServerConf, startPrivateServer } from "./private-server";
import { queryRows } from "./sql";
import { parseResultLine, RESULT_PREFIX } from "../jobs/result-line";

const MismatchRow = z.object({ database: z.string(), recorded: z.string().nullable(), actual: z.string().nullable() });
const ReindexResult = z.object({ reindexed: z.number(), databases: z.number() });

export interface CollationGuardResult {
  mismatches: CollationMismatch[];
  /** Indexes rebuilt (--reindex), 0 when none needed it. */
  reindexed: number;
}

/** Call with the node's old server stopped: the private server takes its volumes. */
export async function guardCollations(docker: DockerClient, plan: NodePlan, options: { reindex: boolean; onInfo?: ((message: string) => void) | undefined }): Promise<CollationGuardResult> {
  const name = `${plan.name}-collation-check`;
  const confDir = path.join(path.dirname(plan.confDir), "collation-check", "conf.d");
  const cluster = plan.create.Labels?.[LABEL_CLUSTER] ?? "";
  // The node's own host name: what a reindex writes is archived through the agent like any WAL.
  const create = planPrivateServer(plan, { name, hostname: plan.name, confDir, labels: { ...clusterLabels(cluster, "restore", `${plan.node}-collation-check`), ...ownerLabels() } });
  options.onInfo?.(`${plan.name}: the image changed; checking its databases' collation versions against the new C library first`);
  try {
    await startPrivateServer(docker, create, confDir, new Map([...plan.confD, [PRIVATE_CONF_FILE, privateServerConf({ archive: true })]]));
    const mismatches = await queryRows(docker, name, COLLATION_MISMATCH_QUERY, MismatchRow);
    if (mismatches.length === 0) {
      await docker.stopContainer(name, 60);
      return { mismatches, reindexed: 0 };
    }
    const which = mismatches.map((mismatch) => `${mismatch.database} (${mismatch.recorded ?? "?"} → ${mismatch.actual ?? "?"})`).join(", ");
    if (!options.reindex) {
      throw new CollationMismatchError(
        `${plan.name}: the new image ${plan.create.Image ?? ""} sorts text by other collation rules than these databases were indexed with: ${which}; their text indexes could silently miss rows`,
        "pgfort up --reindex rebuilds the indexes that depend on the C library and refreshes the versions before the server takes writes; or keep the image the data was indexed with. The old server was started again as it was",
      );
    }
    options.onInfo?.(`${plan.name}: rebuilding the indexes that depend on the C library in ${which}`);
    const run = await docker.exec(name, ["pgfort-job", "reindex-collations"], { env: ["PGFORT_PGHOST=/var/run/postgresql", "PGFORT_PGUSER=postgres"] });
    const line = run.stderr.split("\n").find((text) => text.startsWith(RESULT_PREFIX));
    if (run.exitCode !== 0 || !line) throw new PostgresError(`${plan.name}: rebuilding the indexes failed: ${run.stderr.trim().split("\n").slice(-5).join("; ")}`, "the old server was started again as it was; fix what is named and run pgfort up --reindex again");
    const result = ReindexResult.parse(parseResultLine(line));
    await docker.stopContainer(name, 120);
    return { mismatches, reindexed: result.reindexed };
  } finally {
    await docker.removeContainer(name).catch(() => undefined);
    await rm(path.dirname(confDir), { recursive: true, force: true });
  }
}
