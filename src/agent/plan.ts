// What the host writes for the agent: its config file, S3 credentials as a shared-credentials file,
// and the plain (non-secret) environment. Pure: config, topology and the host's environment in.
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import { AGENT_TARGET_DIR, type AgentConfig } from "./contract";

/** A file:// target as a directory on the host (resolved against the config's directory); undefined for s3://. */
export function fileTargetDirectory(loaded: LoadedConfig): string | undefined {
  const url = loaded.config.backups.target;
  if (!url.startsWith("file://")) return undefined;
  return path.resolve(loaded.baseDir, url.slice("file://".length));
}

/** backups.target as the agent sees it: the bind mount for file://, the URL itself for s3://. */
export function agentTargetUrl(url: string): string {
  return url.startsWith("file://") ? `file://${AGENT_TARGET_DIR}` : url;
}

/**
 * The agent's config file. `nodes` are the cluster's server nodes, named on the cluster network by
 * `hostName` (their container names, `<cluster>-<node>`); the current primary goes first. The agent
 * reads this file again before every run, so `replica add|promote|remove` only rewrite it.
 */
export function planAgentConfig(
  loaded: LoadedConfig,
  configText: string | undefined,
  primaryNode: string,
  nodes: readonly string[],
  hostName: (node: string) => string,
): AgentConfig {
  const others = [...new Set(nodes)].filter((node) => node !== primaryNode).sort();
  return {
    formatVersion: 1,
    configText: configText ?? "{}",
    target: agentTargetUrl(loaded.config.backups.target),
    servers: [primaryNode, ...others].map(hostName),
    primaryNode,
  };
}

/** The host's AWS credentials (env) as an AWS shared-credentials file; undefined when the env has none. */
export function planAwsCredentials(env: NodeJS.ProcessEnv): string | undefined {
  const accessKeyId = env["AWS_ACCESS_KEY_ID"];
  const secretAccessKey = env["AWS_SECRET_ACCESS_KEY"];
  if (!accessKeyId || !secretAccessKey) return undefined;
  const lines = ["[default]", `aws_access_key_id = ${accessKeyId}`, `aws_secret_access_key = ${secretAccessKey}`];
  if (env["AWS_SESSION_TOKEN"]) lines.push(`aws_session_token = ${env["AWS_SESSION_TOKEN"]}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Environment of the agent container for an s3:// target: what a hand-off's `docker exec` sets
 * (src/handoff/s3-access.ts: the credentials file's name, the region, the endpoint as the agent
 * reaches it), so scheduled runs reach the server the host's jobs do, and the host's jobs run in
 * the agent's process (its job server runs only jobs whose environment is its own). Never a secret.
 */
export function planAgentEnv(target: string, s3Env: Record<string, string> | undefined): string[] {
  if (!target.startsWith("s3://") || !s3Env) return [];
  return Object.entries(s3Env).map(([key, value]) => `${key}=${value}`);
}
