// The agent's config file (src/agent/contract.ts) as the host writes it into the secrets volume,
// for the agent and for one-off job containers of the agent image. The agent helper's `up` writes
// the same file; this is the minimal writer the hand-off needs when no agent was ever created.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import { AGENT_CONFIG_FILE, AGENT_TARGET_DIR, type AgentConfig } from "../agent/contract";
import { syncSecretsVolume, type SecretFile, type SecretsEngine } from "../cluster/secrets-volume";
import { readTopology } from "../cluster/topology";
import { objectName } from "../docker/names";

/** The target as a job container sees it: a file:// directory is bind-mounted at AGENT_TARGET_DIR; s3:// unchanged. Pure. */
export function targetInJob(url: string): string {
  return url.startsWith("file://") ? `file://${AGENT_TARGET_DIR}` : url;
}

/** Every server's host name on the cluster network, the recorded primary first (the job asks each which is the primary). Pure. */
export function serverHosts(cluster: string, primaryNode: string, replicaNames: readonly string[]): string[] {
  return [...new Set([primaryNode, "primary", ...replicaNames].map((node) => objectName(cluster, node)))];
}

/** Pure: the config file's own text (or "{}" for built-in defaults), the target as the job sees it, the servers. */
export function planAgentConfig(loaded: LoadedConfig, configText: string, primaryNode: string): AgentConfig {
  const { config } = loaded;
  return {
    formatVersion: 1,
    configText,
    target: targetInJob(config.backups.target),
    servers: serverHosts(config.cluster, primaryNode, config.replicas.map((replica) => replica.name)),
    primaryNode,
  };
}

export async function agentConfigFile(loaded: LoadedConfig): Promise<SecretFile> {
  const configText = loaded.file ? await readFile(path.resolve(loaded.file), "utf8") : "{}";
  const { primary } = await readTopology(loaded.stateDir);
  return { name: AGENT_CONFIG_FILE, content: `${JSON.stringify(planAgentConfig(loaded, configText, primary), null, 2)}\n` };
}

/** One copy at a time per process: `pgfort schedule` starts jobs side by side, and the copy recreates one carrier container. */
let copying: Promise<unknown> = Promise.resolve();

/** Makes the secrets volume hold the passwords and the agent's config (and `extra`, e.g. S3 credentials). Idempotent. */
export async function syncAgentConfig(docker: SecretsEngine, loaded: LoadedConfig, extra: readonly SecretFile[] = []): Promise<void> {
  const files = [await agentConfigFile(loaded), ...extra];
  const copy = copying.catch(() => undefined).then(() => syncSecretsVolume(docker, loaded.config.cluster, loaded.config.image.tag, loaded.stateDir, files));
  copying = copy;
  await copy;
}
