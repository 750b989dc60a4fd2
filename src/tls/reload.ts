// Making running servers serve the cluster's current certificate: a reload (SIGHUP) of each, then a
// new TLS connection inside its container to see what it serves. Existing connections keep
// their session (PostgreSQL reads the certificate files for new connections only).
import { z } from "zod";
import { runSql } from "../cluster/sql";
import type { DockerClient } from "../docker/client";
import { clusterFilter, LABEL_NODE, LABEL_ROLE, LABEL_SPEC_HASH } from "../docker/labels";
import { TlsError } from "../errors";
import { parseResultLine, RESULT_PREFIX } from "../jobs/result-line";
import { poolerCommand, poolerRunning } from "../pooler/console";
import { POOLER_NODE, POOLER_PORT, poolerContainerName } from "../pooler/plan";

export interface ServedCertificate {
  node: string;
  container: string;
  fingerprint: string;
}

const ServedResult = z.object({ fingerprint: z.string() });
/** The containers that run a PostgreSQL server (a restored one included); the agent and the pooler do not. */
const SERVER_ROLES = new Set(["primary", "replica", "restore"]);

/** The certificate a new connection to `container` sees (the image's `pgfort-job served-certificate`). */
export async function servedFingerprint(docker: DockerClient, container: string, port = 5432): Promise<string> {
  const run = await docker.exec(container, ["pgfort-job", "served-certificate"], { env: [`PGFORT_TLS_PORT=${port}`] });
  const line = run.stderr.split("\n").find((text) => text.startsWith(RESULT_PREFIX));
  if (run.exitCode !== 0 || !line) throw new TlsError(`${container} serves no TLS certificate: ${run.stderr.trim().split("\n").slice(-3).join("; ")}`, `read ${container}'s log (docker logs ${container}) for the certificate error`);
  return ServedResult.parse(parseResultLine(line)).fingerprint.toUpperCase();
}

/**
 * Reloads every running server of the cluster (the containers `up` planned carry a spec hash) and
 * the pooler, which serves the same certificate, but those in `skip` (just started: they read the
 * files at start), and checks that each now serves `fingerprint`. One that kept its old
 * certificate (PostgreSQL and PgBouncer keep it when the new files are unusable) is an error naming it.
 */
export async function reloadServers(docker: DockerClient, cluster: string, fingerprint: string, skip: ReadonlySet<string> = new Set()): Promise<ServedCertificate[]> {
  const { containers } = await docker.listLabelled(clusterFilter(cluster));
  const servers = containers
    .map((summary) => ({ container: (summary.Names[0] ?? "").replace(/^\//, ""), labels: summary.Labels, running: summary.State === "running" }))
    .filter(({ container, labels, running }) => running && labels[LABEL_SPEC_HASH] !== undefined && SERVER_ROLES.has(labels[LABEL_ROLE] ?? "") && !skip.has(container));
  const served: ServedCertificate[] = [];
  for (const { container, labels } of servers) {
    await runSql(docker, container, "SELECT pg_reload_conf();");
    served.push({ node: labels[LABEL_NODE] ?? "", container, fingerprint: await awaitServed(docker, container, 5432, fingerprint) });
  }
  const pooler = poolerContainerName(cluster);
  if (!skip.has(pooler) && (await poolerRunning(docker, cluster))) {
    await poolerCommand(docker, cluster, "RELOAD");
    served.push({ node: POOLER_NODE, container: pooler, fingerprint: await awaitServed(docker, pooler, POOLER_PORT, fingerprint) });
  }
  return served;
}

/** The reload is a signal: the process reads the files a moment later. */
async function awaitServed(docker: DockerClient, container: string, port: number, fingerprint: string): Promise<string> {
  let seen = "";
  for (let attempt = 0; attempt < 20; attempt += 1) {
    seen = await servedFingerprint(docker, container, port);
    if (seen === fingerprint.toUpperCase()) return seen;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new TlsError(`${container} still serves its former certificate after the reload`, `read its log (docker logs ${container}): it names the certificate file it could not use`);
}
