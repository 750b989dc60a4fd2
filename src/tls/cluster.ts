// A cluster's TLS, from its config: which names its certificate covers, which files go into the
// secrets volume, and the reload that makes running servers serve new certificates (existing
// connections keep theirs: PostgreSQL reads the files for new connections only).
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { Config } from "../config/schema";
import { containerName } from "../docker/names";
import { TLS_FILES } from "../cluster/secrets";
import type { SecretFile } from "../cluster/secrets-volume";
import { ensureTls, tlsStateDir, type TlsMaterial, type TlsOptions } from "./material";

type Loaded = Pick<LoadedConfig, "config" | "stateDir" | "baseDir">;

export function tlsOptions(loaded: Loaded): TlsOptions {
  const { certDir } = loaded.config.tls;
  return { certDir: certDir === undefined ? undefined : path.resolve(loaded.baseDir, certDir) };
}

/** The CA file clients verify the servers with (what `up` prints as sslrootcert). */
export function caFileOf(loaded: Loaded): string {
  const { certDir } = tlsOptions(loaded);
  return certDir ? path.join(certDir, "ca.crt") : path.join(tlsStateDir(loaded.stateDir), "ca.crt");
}

/**
 * Every name a client or a replica connects with: the loopback names (the port is published there),
 * the published address, and the container names of the primary, the configured replicas and
 * `extraNodes` (a replica added by `replica add`, which its peers follow after a promotion).
 */
export function tlsNames(config: Config, extraNodes: readonly string[] = []): string[] {
  const nodes = ["primary", ...config.replicas.map((replica) => replica.name), ...extraNodes];
  const bind = config.primary.bind === "0.0.0.0" || config.primary.bind === "::" ? [] : [config.primary.bind];
  // The pooler serves the same certificate to its clients.
  const pooler = config.pooler ? [containerName(config.cluster, "pooler")] : [];
  return [...new Set(["localhost", "127.0.0.1", ...bind, ...nodes.map((node) => containerName(config.cluster, node)), ...pooler])];
}

/** The cluster's material for its config's names (issued or re-issued as ensureTls says). */
export function prepareTls(loaded: Loaded, extraNodes: readonly string[] = [], options: { rotate?: boolean } = {}): Promise<TlsMaterial> {
  return ensureTls(loaded.stateDir, tlsOptions(loaded), tlsNames(loaded.config, extraNodes), options);
}

/** The files the servers read, as secrets-volume entries. */
export function tlsSecretFiles(material: TlsMaterial): SecretFile[] {
  return [
    { name: TLS_FILES.cert, content: material.server.cert },
    { name: TLS_FILES.key, content: material.server.key },
    { name: TLS_FILES.ca, content: material.ca },
  ];
}
