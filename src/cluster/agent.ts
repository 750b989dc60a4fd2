// `pgfort up` for the agent: its config file and credentials into the secrets volume, the target
// directory made writable for it, then its container, created or re-created only when its spec
// changed (src/cluster/agent-container.ts). `replica add|promote|remove` only rewrite its config file.
import { tlsOptions } from "../tls/cluster";
import { chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterFilter, clusterLabels, LABEL_NODE, LABEL_ROLE, LABEL_SPEC_HASH } from "../docker/labels";
import { containerName, networkName, secretsVolumeName } from "../docker/names";
import { AGENT_CONFIG_FILE, AWS_CREDENTIALS_FILE, agentImageTag } from "../agent/contract";
import { planS3Access } from "../handoff/s3-access";
import { fileTargetDirectory, planAgentConfig, planAgentEnv, planAwsCredentials } from "../agent/plan";
import { writeJsonFileAtomic } from "../state/json-file";
import { primarySourceVolumes } from "../handoff/source-volumes";
import { agentConfigDigest, AGENT_NODE, AGENT_STOP_TIMEOUT_SECONDS, planAgentContainer } from "./agent-container";
import { explainLimitWarnings } from "./limits";
import { POSTGRES_UID, secretsDir } from "./secrets";
import { syncSecretsVolume, type SecretsEngine } from "./secrets-volume";
import { readTopology } from "./topology";
import { BACKUP_IDENTITY_FILE } from "../backup/plan";
import { PRUNE_CREDENTIALS_FILE } from "../backup/prune";
import { ConfigError } from "../errors";

/** What writing the agent's config needs from the engine: a plain fake in unit tests. */
export interface AgentConfigEngine extends SecretsEngine {
  listLabelled(filters: { label: string[] }): Promise<{ containers: ReadonlyArray<{ Labels: Record<string, string> }> }>;
}

export type AgentOutcome = "created" | "recreated" | "started" | "unchanged";

export interface AgentUpResult {
  container: string;
  outcome: AgentOutcome;
  /** Where /metrics and /healthz are published. */
  url: string;
  warnings: string[];
}

/**
 * Writes the agent's config file (and, for s3://, its credentials) beside the generated secrets
 * and copies them into the secrets volume. The servers are the cluster's server containers as the
 * engine lists them (a replica added by `replica add` need not be in the config). Idempotent.
 */
export async function syncAgentConfig(docker: AgentConfigEngine, loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): Promise<{ digest: string; hasCredentials: boolean; warnings: string[] }> {
  const { config, stateDir } = loaded;
  const { primary } = await readTopology(stateDir);
  const { containers } = await docker.listLabelled(clusterFilter(config.cluster));
  const nodes = containers.flatMap((container) => {
    const role = container.Labels[LABEL_ROLE];
    const node = container.Labels[LABEL_NODE] ?? "";
    // A former primary stays fenced after a promotion: not a server the agent should ask.
    return role === "replica" || (role === "primary" && node === primary) ? [node] : [];
  });
  const configText = loaded.file ? await readFile(loaded.file, "utf8") : undefined;
  const agentConfig = planAgentConfig(loaded, configText, primary, nodes, (node) => containerName(config.cluster, node));
  const directory = secretsDir(stateDir);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await writeJsonFileAtomic(path.join(directory, AGENT_CONFIG_FILE), agentConfig, { mode: 0o600 });
  const warnings: string[] = [];
  const credentials = await agentCredentials(directory, agentConfig.target, env, { keep: true, command: "pgfort up", warnings });
  await syncSecretCopies(loaded, directory);
  await syncSecretsVolume(docker, config.cluster, config.image.tag, stateDir, tlsOptions(loaded));
  const digest = agentConfigDigest({ configText: agentConfig.configText, target: agentConfig.target, credentials, servers: agentConfig.servers });
  return { digest, hasCredentials: credentials !== undefined, warnings };
}

/**
 * The agent's S3 credentials for an s3:// target: this shell's (written beside the secrets when
 * `keep`), else the file an earlier `up` wrote, which stays in force; none is a warning.
 */
export async function agentCredentials(
  directory: string,
  target: string,
  env: NodeJS.ProcessEnv,
  options: { keep: boolean; command: string; warnings: string[] },
): Promise<string | undefined> {
  if (!target.startsWith("s3://")) return undefined;
  const file = path.join(directory, AWS_CREDENTIALS_FILE);
  let credentials = planAwsCredentials(env);
  if (credentials && options.keep) await writeFile(file, credentials, { mode: 0o600 });
  credentials ??= await readFile(file, "utf8").catch(() => undefined);
  if (!credentials) options.warnings.push(`the agent has no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and run ${options.command} again, or its backups to ${target} fail`);
  return credentials;
}

/**
 * A file the config names (backups.encryption.identityFile, backups.prune.credentialsFile) into the
 * cluster's secrets (0600), for the agent and its job containers; removed from them when the
 * config names none. `invalid` says what is wrong with its text, if anything.
 */
async function syncSecretCopy(loaded: LoadedConfig, directory: string, copyName: string, setting: string, file: string | undefined, invalid: (text: string) => string | undefined, hint: string): Promise<void> {
  const copy = path.join(directory, copyName);
  if (!file) {
    await rm(copy, { force: true });
    return;
  }
  const source = path.resolve(loaded.baseDir, file);
  const text = await readFile(source, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`${setting} ${source} cannot be read: ${error.code ?? error.message}`, hint);
  });
  const problem = invalid(text);
  if (problem) throw new ConfigError(`${setting} ${source} ${problem}`, hint);
  await writeFile(copy, text, { mode: 0o600 });
}

/** One after the other: the first problem is the one reported, whichever it is. */
export async function syncSecretCopies(loaded: LoadedConfig, directory: string): Promise<void> {
  const { encryption, prune } = loaded.config.backups;
  await syncSecretCopy(loaded, directory, BACKUP_IDENTITY_FILE, "backups.encryption.identityFile", encryption?.identityFile, (text) => (/^AGE-SECRET-KEY-1[0-9A-Z]+$/m.test(text) ? undefined : "holds no age identity"), "point it at an age identity file (lines AGE-SECRET-KEY-1…, as age-keygen -o FILE writes them)");
  await syncSecretCopy(
    loaded,
    directory,
    PRUNE_CREDENTIALS_FILE,
    "backups.prune.credentialsFile",
    prune.credentialsFile,
    (text) => (text.split("\n").some((line) => line.trim() === `[${prune.profile}]`) && /aws_access_key_id/.test(text) ? undefined : `has no [${prune.profile}] profile with aws_access_key_id`),
    "an AWS shared-credentials file as the AWS CLI writes it ([default] with aws_access_key_id and aws_secret_access_key), or set backups.prune.profile",
  );
}

/** Brings the agent to its plan; call after the servers are up (it lists them). */
export async function upAgent(docker: DockerClient, loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): Promise<AgentUpResult> {
  const { config } = loaded;
  const synced = await syncAgentConfig(docker, loaded, env);
  const targetDirectory = fileTargetDirectory(loaded);
  const warnings = [...synced.warnings];
  if (targetDirectory) warnings.push(...(await prepareTargetDirectory(targetDirectory, config.cluster)));
  const image = agentImageTag(config.image.tag);
  const imageId = (await docker.imageExists(image)) ? (await docker.inspectImage(image)).Id : undefined;
  const plan = planAgentContainer(config, {
    imageId,
    targetDirectory,
    targetGroup: targetDirectory ? await targetGroup(targetDirectory) : undefined,
    configDigest: synced.digest,
    sourceVolumes: await primarySourceVolumes(docker, loaded),
    env: planAgentEnv(config.backups.target, config.backups.target.startsWith("s3://") ? planS3Access(config.backups.s3, await docker.networkGateway(networkName(config.cluster)), env).env : undefined),
  });
  const url = `http://${config.agent.bind === "0.0.0.0" ? "127.0.0.1" : config.agent.bind}:${config.agent.port}`;
  const existing = await docker.inspectContainerIfExists(plan.name);
  if (existing && existing.Config.Labels?.[LABEL_SPEC_HASH] === plan.specHash) {
    if (existing.State.Running) return { container: plan.name, outcome: "unchanged", url, warnings };
    await docker.startContainer(plan.name);
    await docker.waitUntilHealthy(plan.name, 60_000);
    return { container: plan.name, outcome: "started", url, warnings };
  }
  // The agent holds no data: a changed spec stops it (a running job gets its stop timeout) and
  // replaces it. Its scratch volume is kept.
  if (existing) {
    await docker.stopContainer(plan.name, AGENT_STOP_TIMEOUT_SECONDS);
    await docker.removeContainer(plan.name);
  }
  const scratchCreated = await docker.ensureVolume(plan.scratchVolume, clusterLabels(config.cluster, "agent", AGENT_NODE));
  try {
    const created = await docker.createAndStart(plan.create);
    warnings.push(...explainLimitWarnings(created, config.agent.resources ? "agent.resources" : "backups.resources"));
    await docker.waitUntilHealthy(plan.name, 60_000);
  } catch (error) {
    // An agent that never became healthy is not left restarting; a first `up` takes its volume back.
    await docker.removeContainer(plan.name).catch(() => undefined);
    if (scratchCreated) await docker.removeVolume(plan.scratchVolume).catch(() => undefined);
    throw error;
  }
  return { container: plan.name, outcome: existing ? "recreated" : "created", url, warnings };
}

/** After `replica add|promote|remove`: the agent's config file names the servers again (no restart). */
export async function refreshAgentConfig(docker: DockerClient, loaded: LoadedConfig): Promise<void> {
  if (!(await docker.volumeExists(secretsVolumeName(loaded.config.cluster)))) return;
  await syncAgentConfig(docker, loaded);
}

/**
 * The agent runs as uid 999 and writes `<dir>/<cluster>/…` (and a probe file in `<dir>`). As root,
 * `up` gives it those directories (chown: root keeps every right); as another user it cannot, and
 * says what to run instead of failing `up`: the agent's runs then fail, visibly, in /healthz.
 */
export async function prepareTargetDirectory(directory: string, cluster: string): Promise<string[]> {
  const clusterDirectory = path.join(directory, cluster);
  await mkdir(clusterDirectory, { recursive: true });
  if (process.getuid?.() === 0) {
    await chown(directory, POSTGRES_UID, POSTGRES_UID);
    await chownTree(clusterDirectory);
    return [];
  }
  // Not root: the operator keeps the directories; the agent and job containers join their group
  // (targetGroup, GroupAdd), which may then write there, and setgid makes everything written below
  // carry that group, so the operator reads what uid 999 wrote (files are 0640).
  const blocked: string[] = [];
  for (const candidate of [directory, clusterDirectory]) {
    const info = await stat(candidate);
    if (writableByAgent(info, info.gid) && (info.mode & 0o2000) !== 0) continue;
    await chmod(candidate, (info.mode & 0o7777) | 0o2070).catch(() => blocked.push(candidate));
  }
  if (blocked.length === 0) return [];
  return [
    `the agent (uid ${POSTGRES_UID}) cannot write ${blocked.join(" and ")}: its backups will fail until you run ` +
      `chmod g+rwxs ${blocked.join(" ")} as their owner, or sudo chown -R ${POSTGRES_UID}:${POSTGRES_UID} ${clusterDirectory} (or run pgfort up as root once)`,
  ];
}

/** The group the agent and job containers join to write a file:// target: the directory's, unless uid 999 owns it. */
export async function targetGroup(directory: string): Promise<number | undefined> {
  const info = await stat(directory).catch(() => undefined);
  return info && info.uid !== POSTGRES_UID && info.gid !== 0 ? info.gid : undefined;
}

/** Can uid 999 (with `joinedGroup` as a supplementary group) create and remove entries in a directory of this owner and mode? */
export function writableByAgent(info: { uid: number; gid: number; mode: number }, joinedGroup?: number): boolean {
  if (info.uid === POSTGRES_UID) return (info.mode & 0o300) === 0o300;
  if (info.gid === POSTGRES_UID || info.gid === joinedGroup) return (info.mode & 0o030) === 0o030;
  return (info.mode & 0o003) === 0o003;
}

async function chownTree(directory: string): Promise<void> {
  await chown(directory, POSTGRES_UID, POSTGRES_UID);
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) await chownTree(full);
    else if (entry.isFile()) await chown(full, POSTGRES_UID, POSTGRES_UID);
  }
}
