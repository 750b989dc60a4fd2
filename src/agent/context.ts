// Inside the agent image: the agent's config file read and checked, the user's config parsed again
// with the host's own rules, and backups.target replaced by the path the job sees.
import path from "node:path";
import { parseConfig, type LoadedConfig } from "../config/load";
import { ConfigError } from "../errors";
import { SECRETS_DIR } from "../cluster/secrets";
import { readJsonFile } from "../state/json-file";
import { AGENT_CONFIG_FILE, AGENT_SCRATCH_DIR, AgentConfigSchema, type AgentConfig } from "./contract";

export interface AgentContext {
  agent: AgentConfig;
  /** The user's config with the agent's view of the target; stateDir is on the scratch volume (the root is read-only). */
  loaded: LoadedConfig;
}

/** State the agent keeps (the S3 orphan journal): on its scratch volume, which outlives the container. */
export const AGENT_STATE_DIR = path.join(AGENT_SCRATCH_DIR, "state");

export const DEFAULT_AGENT_CONFIG_PATH = path.join(SECRETS_DIR, AGENT_CONFIG_FILE);

export async function loadAgentContext(file = DEFAULT_AGENT_CONFIG_PATH): Promise<AgentContext> {
  const read = await readJsonFile(file, AgentConfigSchema);
  if (!read.ok) {
    const hint = read.problem === "schema" ? "run pgfort up with the same pgfort version as the agent image (pgfort build)" : "run pgfort up on the host: it writes the agent's config into the secrets volume";
    throw new ConfigError(`the agent's config cannot be used: ${read.reason}`, hint);
  }
  const agent = read.value;
  const config = parseConfig(agent.configText, "the agent's copy of pgfort.yaml");
  config.backups.target = agent.target;
  return { agent, loaded: { config, file: undefined, baseDir: "/", stateDir: AGENT_STATE_DIR } };
}
