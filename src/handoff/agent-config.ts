// The target as a job container sees it. The agent's config file itself is written by
// src/cluster/agent.ts (syncAgentConfig), for the agent and for one-off job containers alike.
import { AGENT_TARGET_DIR } from "../agent/contract";

/** A file:// directory is bind-mounted at AGENT_TARGET_DIR; s3:// unchanged. Pure. */
export function targetInJob(url: string): string {
  return url.startsWith("file://") ? `file://${AGENT_TARGET_DIR}` : url;
}
