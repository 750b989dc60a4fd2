// Secrets reach the containers through a volume the engine fills, never through a host bind mount:
// a bind mount would need the files owned by uid 999 on the host (chown: root only), and pgfort
// must run as any user of the docker group (issue 9, item 7). The host copy stays 0600, owned by
// the operator, who needs it to connect.
import { BACKUP_IDENTITY_FILE } from "../backup/plan";
import { PRUNE_CREDENTIALS_FILE } from "../backup/prune";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pack } from "tar-stream";
import type { ContainerCreateOptions } from "../docker/client";
import { clusterLabels, LABEL_SECRETS_DIGEST } from "../docker/labels";
import { objectName, secretsVolumeName } from "../docker/names";
import { POOLER_AUTH_FILE, POSTGRES_UID, SECRETS, SECRETS_DIR, secretsDir } from "./secrets";
import { ensureSecrets } from "./state";
import { ensureTls, type TlsMaterial, type TlsOptions } from "../tls/material";
import { tlsSecretFiles } from "../tls/cluster";
import { AGENT_CONFIG_FILE, AWS_CREDENTIALS_FILE } from "../agent/contract";

/**
 * Files beside the generated secrets that go into the volume when present: the agent's config and
 * S3 credentials (src/cluster/agent.ts writes them). Read by every sync, so a sync from `replica add`
 * keeps what `up` wrote for the agent, and the digest covers them.
 */
export const OPTIONAL_SECRET_FILES: readonly string[] = [AGENT_CONFIG_FILE, AWS_CREDENTIALS_FILE, BACKUP_IDENTITY_FILE, PRUNE_CREDENTIALS_FILE, POOLER_AUTH_FILE];

export interface SecretFile {
  name: string;
  content: string;
}

/** The generated secrets and those of OPTIONAL_SECRET_FILES that exist, from the state directory (ensureSecrets first). */
export async function readSecretFiles(stateDir: string): Promise<SecretFile[]> {
  const files: SecretFile[] = await Promise.all(
    Object.values(SECRETS).map(async ({ name }) => ({ name, content: await readFile(path.join(secretsDir(stateDir), name), "utf8") })),
  );
  for (const name of OPTIONAL_SECRET_FILES) {
    const content = await readFile(path.join(secretsDir(stateDir), name), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (content !== undefined) files.push({ name, content });
  }
  return files;
}

/**
 * The files the servers read under /run/secrets — the generated secrets, the optional ones but the
 * agent's config and S3 credentials (an agent has its own), and the TLS files — by name: what a
 * Compose project or a swarm carries as its secrets instead of the secrets volume.
 */
export async function serverSecretFiles(stateDir: string, tls: TlsMaterial): Promise<Map<string, string>> {
  const files = (await readSecretFiles(stateDir)).filter(({ name }) => name !== AGENT_CONFIG_FILE && name !== AWS_CREDENTIALS_FILE);
  return new Map([...files, ...tlsSecretFiles(tls)].map(({ name, content }) => [name, content]));
}

/** A tar of the secret files, owned by the image's postgres user and readable by it only, and its digest. Pure. */
export async function planSecretsArchive(files: readonly SecretFile[]): Promise<{ archive: Buffer; digest: string }> {
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name));
  const hash = createHash("sha256");
  for (const file of sorted) hash.update(`${file.name}\0${file.content}\0`);
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on("data", (chunk: unknown) => {
    if (Buffer.isBuffer(chunk)) chunks.push(chunk); // streamx emits Buffers only
  });
  const ended = new Promise<void>((resolve, reject) => tar.on("end", resolve).on("error", reject));
  // A fixed mtime keeps the archive a function of the files alone.
  for (const file of sorted) tar.entry({ name: file.name, mode: 0o400, uid: POSTGRES_UID, gid: POSTGRES_UID, mtime: new Date(0) }, file.content);
  tar.finalize();
  await ended;
  return { archive: Buffer.concat(chunks), digest: hash.digest("hex").slice(0, 16) };
}

/** What syncing the volume needs from the engine: a plain fake in unit tests. */
export interface SecretsEngine {
  inspectContainerIfExists(name: string): Promise<{ Config: { Labels?: Record<string, string> | null } } | undefined>;
  volumeExists(name: string): Promise<boolean>;
  ensureVolume(name: string, labels: Record<string, string>): Promise<boolean>;
  createContainer(options: ContainerCreateOptions): Promise<void>;
  putArchive(name: string, directory: string, archive: Buffer): Promise<void>;
  removeContainer(name: string): Promise<void>;
}

/**
 * Makes `<cluster>-secrets` hold the state directory's secrets (creating missing ones first). The
 * volume is filled through a created-never-started carrier container labelled with the files'
 * digest, so an unchanged set costs one inspect, and a changed file is copied again. Idempotent;
 * true when it copied.
 */
export async function syncSecretsVolume(docker: SecretsEngine, cluster: string, image: string, stateDir: string, tls: TlsOptions = {}): Promise<boolean> {
  await ensureSecrets(stateDir);
  const files = await readSecretFiles(stateDir);
  // The certificate as it is (made when missing): issuing for new names is up's and replica add's.
  files.push(...tlsSecretFiles(await ensureTls(stateDir, tls, ["localhost"])));
  const { archive, digest } = await planSecretsArchive(files);
  const volume = secretsVolumeName(cluster);
  const carrier = objectName(cluster, "secrets");
  const existing = await docker.inspectContainerIfExists(carrier);
  if (existing?.Config.Labels?.[LABEL_SECRETS_DIGEST] === digest && (await docker.volumeExists(volume))) return false;
  const labels = clusterLabels(cluster, "secrets", "secrets");
  await docker.ensureVolume(volume, labels);
  await docker.removeContainer(carrier);
  await docker.createContainer(planCarrier(carrier, image, volume, { ...labels, [LABEL_SECRETS_DIGEST]: digest }));
  try {
    await docker.putArchive(carrier, SECRETS_DIR, archive);
  } catch (error) {
    await docker.removeContainer(carrier); // no digest label may claim a copy that did not happen
    throw error;
  }
  return true;
}

function planCarrier(name: string, image: string, volume: string, labels: Record<string, string>): ContainerCreateOptions {
  return {
    name,
    Image: image,
    Entrypoint: ["true"],
    Labels: labels,
    HostConfig: { NetworkMode: "none", Mounts: [{ Type: "volume", Source: volume, Target: SECRETS_DIR }] },
  };
}

/** Removes the carrier and the volume: undoes a first `up` that failed. */
export async function removeSecretsVolume(docker: Pick<SecretsEngine, "removeContainer"> & { removeVolume(name: string): Promise<void> }, cluster: string): Promise<void> {
  await docker.removeContainer(objectName(cluster, "secrets"));
  await docker.removeVolume(secretsVolumeName(cluster));
}
