// The contract between the host CLI and the agent image (issue 10). The host writes the agent's
// config into the secrets volume; the agent, and every one-off job container of the agent image,
// reads it from there. Pure: names, paths and the schema only.
import { z } from "zod";

/** The agent image: the cluster's image plus Node and pgfort (images/agent/Dockerfile). */
export function agentImageTag(clusterImageTag: string): string {
  const at = clusterImageTag.lastIndexOf(":");
  const slash = clusterImageTag.lastIndexOf("/");
  return at > slash ? `${clusterImageTag}-agent` : `${clusterImageTag}:agent`;
}

/** Where pgfort lives in the agent image; `pgfort` on PATH runs it with the image's own Node. */
export const AGENT_PACKAGE_DIR = "/opt/pgfort";
/** The agent's config, a file in the secrets volume (mode 0400, uid 999): it may hold ping URLs with tokens. */
export const AGENT_CONFIG_FILE = "agent.json";
/** S3 credentials as an AWS shared-credentials file in the secrets volume: never in Env. */
export const AWS_CREDENTIALS_FILE = "aws-credentials";
/** A file:// target is bind-mounted here, read-write, in the agent and in job containers. */
export const AGENT_TARGET_DIR = "/var/lib/pgfort/target";
/** Scratch space (drills' scratch servers): a volume, the root filesystem being read-only. */
export const AGENT_SCRATCH_DIR = "/var/lib/pgfort/scratch";
export const AGENT_DEFAULT_PORT = 9187;

export const AgentConfigSchema = z.strictObject({
  formatVersion: z.literal(1),
  /** The user's pgfort.yaml as written (or "{}" for built-in defaults), parsed again by the agent with parseConfig. */
  configText: z.string(),
  /** backups.target as the job sees it: file:///var/lib/pgfort/target, or the s3:// URL unchanged. */
  target: z.string().regex(/^(file|s3):\/\/./),
  /** Host names on the cluster network of every server node (primary first): the job asks each whether it is the primary. */
  servers: z.array(z.string().min(1)).min(1),
  /** The node name (primary, r1…) recorded as primary when the file was written; discovery has the last word. */
  primaryNode: z.string().min(1),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;
