// `pgfort compose [--out DIR]`: writes the Compose project of ./project.ts — compose.yaml,
// compose.dev.yaml, .env (the project's name), the secrets, every node's conf.d and the pooler's
// files — into one directory that needs nothing else (it can be copied to another host with the
// images). The images are built first when missing, as `up` does.
import { chmod, mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import YAML from "yaml";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { containerName, nodeVolumes } from "../docker/names";
import { ConfigError } from "../errors";
import { AGENT_CONFIG_FILE, AWS_CREDENTIALS_FILE } from "../agent/contract";
import { fileTargetDirectory, planAgentConfig, planAgentEnv } from "../agent/plan";
import { planS3Access } from "../handoff/s3-access";
import { agentConfigDigest } from "../cluster/agent-container";
import { agentCredentials, prepareTargetDirectory, syncSecretCopies, targetGroup } from "../cluster/agent";
import { secretsDir } from "../cluster/secrets";
import { serverSecretFiles } from "../cluster/secrets-volume";
import { ensureSecrets, writeConfD } from "../cluster/state";
import { readTopology } from "../cluster/topology";
import { writeTextFileAtomic } from "../state/json-file";
import { prepareHostFacts, type UpListener } from "../cluster/up";
import { syncPoolerAuth } from "../pooler/auth";
import { prepareTls } from "../tls/cluster";
import { COMPOSE_FILES, COMPOSE_SECRETS_DIR, planComposeProject, type ComposeProject } from "./project";

/** First line of every file pgfort writes there: a compose.yaml without it is the user's, never overwritten. */
export const COMPOSE_HEADER = "# Written by pgfort compose from pgfort.yaml: run pgfort compose again after changing it.";
const S3_HOST_ALIAS = "host.docker.internal";

export interface ComposeExportResult {
  directory: string;
  files: string[];
  services: string[];
  /** The command that starts it, with the dev override. */
  upCommand: string;
  warnings: string[];
}

export function defaultComposeDir(loaded: LoadedConfig): string {
  return path.join(loaded.stateDir, "compose");
}

export async function exportCompose(docker: DockerClient, loaded: LoadedConfig, directory: string, listener: UpListener = {}, env: NodeJS.ProcessEnv = process.env): Promise<ComposeExportResult> {
  const { config, stateDir } = loaded;
  const { primary } = await readTopology(stateDir);
  if (primary !== "primary") {
    throw new ConfigError(
      `this cluster's primary is ${containerName(config.cluster, primary)} since a promotion, and a Compose project starts from the config's primary`,
      "export before a promotion, or rebuild the cluster from a backup first (pgfort restore --as primary)",
    );
  }
  await refuseForeignProject(directory);
  const facts = await prepareHostFacts(docker, loaded, listener);
  const image = await docker.inspectImage(config.image.tag);
  const tls = await prepareTls(loaded);
  await ensureSecrets(stateDir);
  await syncPoolerAuth(stateDir, config.pooler !== undefined);
  await syncSecretCopies(loaded, secretsDir(stateDir));
  const warnings: string[] = [];
  const agent = await planAgentFiles(loaded, env, warnings);
  const secrets = await serverSecretFiles(stateDir, tls);
  secrets.set(AGENT_CONFIG_FILE, agent.configJson);
  if (agent.credentials) secrets.set(AWS_CREDENTIALS_FILE, agent.credentials);
  const project = planComposeProject(config, stateDir, {
    facts,
    imageHealthcheck: image.Config.Healthcheck,
    secrets: [...secrets.keys()].sort(),
    agent: agent.inputs,
    agentExtraHosts: agent.extraHosts,
  });
  const files = await writeProject(directory, project, secrets);
  return {
    directory,
    files,
    services: Object.keys(project.base["services"] as Record<string, unknown>),
    upCommand: `cd ${directory} && docker compose -f ${COMPOSE_FILES.base} -f ${COMPOSE_FILES.dev} up -d`,
    warnings,
  };
}

/** A directory holding someone else's compose.yaml, override or .env is not written into. */
async function refuseForeignProject(directory: string): Promise<void> {
  for (const name of [COMPOSE_FILES.base, COMPOSE_FILES.dev, ".env"]) {
    const existing = await readFile(path.join(directory, name), "utf8").catch(() => undefined);
    if (existing !== undefined && !existing.startsWith(COMPOSE_HEADER)) {
      throw new ConfigError(`${path.join(directory, name)} exists and was not written by pgfort compose`, "choose another directory with --out (pgfort never overwrites your own files)");
    }
  }
}

interface AgentFiles {
  configJson: string;
  credentials: string | undefined;
  inputs: Parameters<typeof planComposeProject>[2]["agent"];
  extraHosts: string[];
}

/** The agent's config file for the config's servers (no engine to list them yet), its credentials and container inputs. */
async function planAgentFiles(loaded: LoadedConfig, env: NodeJS.ProcessEnv, warnings: string[]): Promise<AgentFiles> {
  const { config, stateDir } = loaded;
  const configText = loaded.file ? await readFile(loaded.file, "utf8") : undefined;
  const nodes = ["primary", ...config.replicas.map((replica) => replica.name)];
  const agentConfig = planAgentConfig(loaded, configText, "primary", nodes, (node) => containerName(config.cluster, node));
  const s3 = agentConfig.target.startsWith("s3://");
  const credentials = await agentCredentials(secretsDir(stateDir), agentConfig.target, env, { keep: false, command: "pgfort compose", warnings });
  // An endpoint on the host's loopback: the agent reaches the host as host.docker.internal (the
  // engine's host-gateway), as the network's gateway is not known before Compose makes it.
  const access = s3 ? planS3Access(config.backups.s3, S3_HOST_ALIAS, env) : undefined;
  const targetDirectory = fileTargetDirectory(loaded);
  if (targetDirectory) warnings.push(...(await prepareTargetDirectory(targetDirectory, config.cluster)));
  return {
    configJson: `${JSON.stringify(agentConfig, null, 2)}\n`,
    credentials,
    inputs: {
      targetDirectory,
      targetGroup: targetDirectory ? await targetGroup(targetDirectory) : undefined,
      configDigest: agentConfigDigest({ configText: agentConfig.configText, target: agentConfig.target, credentials, servers: agentConfig.servers }),
      env: planAgentEnv(config.backups.target, access?.env),
      sourceVolumes: config.backups.physical.engine === "parallel" ? nodeVolumes(config.cluster, "primary", config.image.volumeSuffix) : undefined,
    },
    extraHosts: access && access.endpointInJob !== access.endpoint ? [`${S3_HOST_ALIAS}:host-gateway`] : [],
  };
}

/** The secrets directory: 0700 before any file is in it, each file written whole then renamed, files of an earlier export that are no secret now removed. */
async function writeSecrets(directory: string, secrets: ReadonlyMap<string, string>): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await chmod(directory, 0o700);
  for (const [name, content] of secrets) await writeTextFileAtomic(path.join(directory, name), content, { mode: 0o644 });
  for (const name of await readdir(directory)) if (!secrets.has(name)) await rm(path.join(directory, name), { force: true });
}

/**
 * The files, each written whole before it is renamed into place. Secrets: the directory 0700 (the
 * operator's), the files 0644 in it: Compose bind-mounts each file as it is, and uid 999 in the
 * containers must read it; nobody else on the host passes the directory.
 */
async function writeProject(directory: string, project: ComposeProject, secrets: ReadonlyMap<string, string>): Promise<string[]> {
  await writeSecrets(path.join(directory, COMPOSE_SECRETS_DIR), secrets);
  const byDirectory = new Map<string, Map<string, string>>();
  for (const [file, content] of project.files) {
    const dir = path.join(directory, path.dirname(file));
    byDirectory.set(dir, (byDirectory.get(dir) ?? new Map()).set(path.basename(file), content));
  }
  for (const [dir, files] of byDirectory) await writeConfD(dir, files);
  const header = `${COMPOSE_HEADER}\n`;
  const written = new Map<string, string>([
    [COMPOSE_FILES.base, `${header}# The cluster ${project.name} as pgfort up makes it; add compose.dev.yaml for published ports and statement logs.\n${YAML.stringify(project.base, { aliasDuplicateObjects: false })}`],
    [COMPOSE_FILES.dev, `${header}# Development: the ports pgfort up publishes, every statement in the servers' logs.\n${YAML.stringify(project.dev, { aliasDuplicateObjects: false })}`],
    [".env", `${header}\nCOMPOSE_PROJECT_NAME=${project.name}\n`],
  ]);
  for (const [name, content] of written) await writeTextFileAtomic(path.join(directory, name), content, { mode: 0o644 });
  return [...written.keys(), ...project.files.keys()].map((file) => path.join(directory, file));
}
