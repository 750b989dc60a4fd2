// `pgfort tls rotate`: a new server certificate (the same CA, so clients keep trusting it) or the
// files of tls.certDir taken in again, into the secrets volume, and every running server reloaded
// and checked to serve it. No restart: existing connections keep their session.
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { refuseComposeManaged } from "../cluster/compose-guard";
import { syncSecretsVolume } from "../cluster/secrets-volume";
import { readTopology } from "../cluster/topology";
import { prepareTls, tlsOptions } from "./cluster";
import { reloadServers, type ServedCertificate } from "./reload";

export interface RotateResult {
  /** generated: pgfort issued a new server certificate; certDir: tls.certDir's files were taken in. */
  source: "generated" | "certDir";
  fingerprint: string;
  previousFingerprint: string | undefined;
  notAfter: string;
  names: string[];
  caFile: string;
  servers: ServedCertificate[];
}

export async function rotateTls(docker: DockerClient, loaded: LoadedConfig): Promise<RotateResult> {
  const { config, stateDir } = loaded;
  const topology = await readTopology(stateDir);
  await refuseComposeManaged(docker, config.cluster, topology.primary, "rotate certificates", "run pgfort compose again (it issues what is missing), then docker compose up -d --force-recreate");
  const extra = topology.primary === "primary" ? [] : [topology.primary];
  const options = tlsOptions(loaded);
  const before = await prepareTls(loaded, extra);
  const material = options.certDir ? before : await prepareTls(loaded, extra, { rotate: true });
  await syncSecretsVolume(docker, config.cluster, config.image.tag, stateDir, options);
  const servers = await reloadServers(docker, config.cluster, material.facts.fingerprint);
  return {
    source: options.certDir ? "certDir" : "generated",
    fingerprint: material.facts.fingerprint,
    previousFingerprint: before.changed ? undefined : before.facts.fingerprint,
    notAfter: material.facts.notAfter.toISOString(),
    names: material.facts.names,
    caFile: material.caFile,
    servers,
  };
}
