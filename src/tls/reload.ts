// Making running servers serve the cluster's current certificate: a reload (SIGHUP) of each, then a
// new TLS connection inside its container to see what it serves. Existing connections keep
// their session (PostgreSQL reads the certificate files for new connections only).
import { z } from "zod";
import { runSql } from "../cluster/sql";
import type { DockerClient } from "../docker/client";
import { clusterFilter, LABEL_NODE, LABEL_ROLE, LABEL_SPEC_HASH } from "../docker/labels";
import { TlsError } from "../errors";
import { parseResultLine, RESULT_PREFIX } from "../jobs/result-line";

export interface ServedCertificate {
  node: string;
  container: string;
  fingerprint: string;
}

const ServedResult = z.object({ fingerprint: z.string() });

/** The certificate a new connection to `container` sees (the image's `pgfort-job served-certificate`). */
export async function servedFingerprint(docker: DockerClient, container: string): Promise<string> {
  const run = await docker.exec(container, ["pgfort-job", "served-certificate"], {});
  const line = run.stderr.split("\n").find((text) => text.startsWith(RESULT_PREFIX));
  if (run.exitCode !== 0 || !line) throw new TlsError(`${container} serves no TLS certificate: ${run.stderr.trim().split("\n").slice(-3).join("; ")}`, `read ${container}'s log (docker logs ${container}) for the certificate error`);
  return ServedResult.parse(parseResultLine(line)).fingerprint.toUpperCase();
}

/**
 * Reloads every running server of the cluster (the containers `up` planned carry a spec hash; the agent is not a server)
 * but those in `skip` (just started: they read the files at start) and checks each now serves `fingerprint`; a server that kept its old certificate (PostgreSQL keeps
 * it when the new files are unusable) is an error naming it.
 */
export async function reloadServers(docker: DockerClient, cluster: string, fingerprint: string, skip: ReadonlySet<string> = new Set()): Promise<ServedCertificate[]> {
  const { containers } = await docker.listLabelled(clusterFilter(cluster));
  const servers = containers.filter(
    (container) => container.State === "running" && container.Labels[LABEL_SPEC_HASH] !== undefined && container.Labels[LABEL_ROLE] !== "agent" && !skip.has((container.Names[0] ?? "").replace(/^\//, "")),
  );
  const served: ServedCertificate[] = [];
  for (const server of servers) {
    const container = (server.Names[0] ?? "").replace(/^\//, "");
    await runSql(docker, container, "SELECT pg_reload_conf();");
    // The reload is a signal: the postmaster reads the files a moment later.
    let seen = "";
    for (let attempt = 0; attempt < 20; attempt += 1) {
      seen = await servedFingerprint(docker, container);
      if (seen === fingerprint.toUpperCase()) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (seen !== fingerprint.toUpperCase()) {
      throw new TlsError(`${container} still serves its former certificate after the reload`, `read its log (docker logs ${container}): PostgreSQL names the certificate file it could not use`);
    }
    served.push({ node: server.Labels[LABEL_NODE] ?? "", container, fingerprint: seen });
  }
  return served;
}
