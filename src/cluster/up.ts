// `pgfort up`: image, network, volumes, secrets, conf.d and the primary, idempotently. Objects
// created by a run that fails are removed again; objects that existed before are never touched.
import { caFileOf, tlsOptions } from "../tls/cluster";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels, LABEL_SPEC_HASH } from "../docker/labels";
import { ensureAgentImage } from "../image/agent-build";
import { buildImage, type BuildListener } from "../image/build";
import { planImageBuild } from "../image/plan";
import { VERSION } from "../version";
import { applyConfig, type ConfigReport } from "./config-apply";
import { guardCollations, type CollationGuardResult } from "./collation-guard";
import { explainLimitWarnings } from "./limits";
import { networkName, secretsVolumeName, socketsVolumeName } from "../docker/names";
import { planNode, SECRETS, secretsDir, type HostFacts, type NodePlan, type NodeSpec } from "./plan";
import { removeSecretsVolume, syncSecretsVolume } from "./secrets-volume";
import { loadDefaultConfD, readConfD, writeConfD } from "./state";

export type NodeOutcome = "created" | "recreated" | "started" | "unchanged" | "reconfigured";

export interface UpListener extends BuildListener {
  onInfo?(message: string): void;
}

export interface NodeUpResult {
  node: string;
  container: string;
  volumes: { data: string; wal: string };
  outcome: NodeOutcome;
  warnings: string[];
  config?: ConfigReport;
  /** The image changed under a primary: what the collation check found, and rebuilt. */
  collation?: CollationGuardResult;
}

/** Builds the config's image unless the engine has it already, then the agent image on it unless current. */
export async function ensureImage(docker: DockerClient, loaded: LoadedConfig, listener: UpListener = {}): Promise<void> {
  const { image } = loaded.config;
  if (!(await docker.imageExists(image.tag))) {
    listener.onInfo?.(`image ${image.tag} is missing: building it`);
    await buildImage(docker, planImageBuild(image, { noCache: false }, VERSION), listener);
  }
  await ensureAgentImage(docker, image, listener);
}

/**
 * Reads what the plan depends on from the engine and the package: CPU and memory, image id,
 * defaults. Only reads: a missing image gives `imageId: undefined` (`config check` works without
 * one; creating a container from it then fails with ImageMissingError).
 */
export async function readHostFacts(docker: DockerClient, loaded: LoadedConfig): Promise<HostFacts> {
  const { tag } = loaded.config.image;
  const [engine, imageId, defaultConfD] = await Promise.all([
    docker.engineInfo(),
    docker.imageExists(tag).then(async (exists) => (exists ? (await docker.inspectImage(tag)).Id : undefined)),
    loadDefaultConfD(),
  ]);
  return { cpus: engine.cpus, memoryBytes: engine.memoryBytes, imageId, defaultConfD };
}

/** The host facts of a command that creates containers: the image is built first when missing. */
export async function prepareHostFacts(docker: DockerClient, loaded: LoadedConfig, listener: UpListener = {}): Promise<HostFacts> {
  await ensureImage(docker, loaded, listener);
  return readHostFacts(docker, loaded);
}

export interface UpNodeOptions {
  /** A primary whose image changed and whose databases were indexed under other collation rules: rebuild them (up --reindex). */
  reindex?: boolean | undefined;
  onInfo?: ((message: string) => void) | undefined;
}

/** Brings one node to its plan. Returns what it did; on failure removes what this call created. */
export async function upNode(
  docker: DockerClient,
  loaded: LoadedConfig,
  facts: HostFacts,
  spec: NodeSpec,
  resourcesPath: string,
  options: UpNodeOptions = {},
): Promise<NodeUpResult> {
  const { config, stateDir } = loaded;
  const plan = planNode(config, stateDir, facts, spec);
  const labels = clusterLabels(config.cluster, spec.role, spec.node);
  const created: Array<() => Promise<void>> = [];
  try {
    if (await docker.ensureNetwork(networkName(config.cluster), clusterLabels(config.cluster, spec.role, "net"))) {
      created.push(() => docker.removeNetwork(networkName(config.cluster)));
    }
    for (const volume of Object.values(plan.volumes)) {
      if (await docker.ensureVolume(volume, { ...labels, ...spec.volumeLabels })) created.push(() => docker.removeVolume(volume));
    }
    // Shared by every node and the agent: created once, labelled, so `down --volumes` takes it.
    const sockets = socketsVolumeName(config.cluster);
    if (await docker.ensureVolume(sockets, clusterLabels(config.cluster, "sockets", "sockets"))) created.push(() => docker.removeVolume(sockets));
    if (!(await docker.volumeExists(secretsVolumeName(config.cluster)))) created.push(() => removeSecretsVolume(docker, config.cluster));
    await syncSecretsVolume(docker, config.cluster, config.image.tag, stateDir, tlsOptions(loaded));
    const existing = await docker.inspectContainerIfExists(plan.name);
    if (existing && existing.Config.Labels?.[LABEL_SPEC_HASH] === plan.specHash) {
      return await keepNode(docker, plan, existing.State.Running);
    }
    // A changed spec replaces the container; the old one is only set aside until the new one is
    // healthy, and comes back if it is not. Volumes are kept either way.
    const previous = existing ? await setAside(docker, plan.name) : undefined;
    if (previous) created.push(() => restorePrevious(docker, previous, plan.name));
    // A new image may bring another C library: the data directory's text indexes are checked (or
    // rebuilt) before it takes writes. Replicas follow their primary's indexes through the WAL.
    let collation: CollationGuardResult | undefined;
    if (existing && spec.role === "primary" && facts.imageId !== undefined && existing.Image !== facts.imageId) {
      collation = await guardCollations(docker, plan, { reindex: Boolean(options.reindex), onInfo: options.onInfo });
    }
    await writeConfD(plan.confDir, plan.confD);
    const warnings = await docker.createAndStart(plan.create);
    created.push(() => docker.removeContainer(plan.name));
    await docker.waitUntilHealthy(plan.name, 180_000);
    if (previous) await docker.removeContainer(previous.name);
    return {
      node: spec.node,
      container: plan.name,
      volumes: plan.volumes,
      outcome: existing ? "recreated" : "created",
      warnings: explainLimitWarnings(warnings, resourcesPath),
      ...(collation ? { collation } : {}),
    };
  } catch (error) {
    for (const undo of created.reverse()) await undo().catch(() => undefined);
    throw error;
  }
}

/** The spec is unchanged: start it if stopped, and apply a changed conf.d by reload. */
async function keepNode(docker: DockerClient, plan: NodePlan, running: boolean): Promise<NodeUpResult> {
  if (!running) {
    await docker.startContainer(plan.name);
    await docker.waitUntilHealthy(plan.name, 180_000);
  }
  const report = await applyConfig(docker, plan, { restart: false });
  const outcome: NodeOutcome = report.applied ? "reconfigured" : running ? "unchanged" : "started";
  return { node: plan.node, container: plan.name, volumes: plan.volumes, outcome, warnings: [], config: report };
}

interface SetAside {
  name: string;
  confD: Map<string, string>;
  confDir: string;
}

/** Stops the old container cleanly (fast shutdown, checkpoint) and renames it out of the way. */
async function setAside(docker: DockerClient, name: string): Promise<SetAside> {
  const info = await docker.inspectContainerIfExists(name);
  const confBind = info?.HostConfig.Binds?.find((bind) => bind.includes(":/etc/postgresql/conf.d"));
  const confDir = confBind?.split(":")[0] ?? "";
  const aside = { name: `${name}-previous`, confD: confDir ? await readConfD(confDir) : new Map<string, string>(), confDir };
  await docker.removeContainer(aside.name);
  await docker.stopContainer(name, 60);
  await docker.renameContainer(name, aside.name);
  return aside;
}

/** Puts the previous container (and the conf.d it ran with) back after a failed replacement. */
async function restorePrevious(docker: DockerClient, previous: SetAside, name: string): Promise<void> {
  await docker.removeContainer(name);
  if (previous.confDir) await writeConfD(previous.confDir, previous.confD);
  await docker.renameContainer(previous.name, name);
  await docker.startContainer(name);
  await docker.waitUntilHealthy(name, 180_000);
}

export interface ConnectionInfo {
  host: string;
  port: number;
  user: string;
  database: string;
  passwordFile: string;
  /** The CA that verifies the server's certificate (sslmode=verify-full). */
  caFile: string;
  example: string;
}

export function connectionInfo(loaded: LoadedConfig): ConnectionInfo {
  const { config, stateDir } = loaded;
  const passwordFile = path.join(secretsDir(stateDir), SECRETS.superuser.name);
  const host = config.primary.bind === "0.0.0.0" ? "127.0.0.1" : config.primary.bind;
  const caFile = caFileOf(loaded);
  return {
    host,
    port: config.primary.port,
    user: "postgres",
    database: "postgres",
    passwordFile,
    caFile,
    example: `PGPASSWORD="$(cat ${passwordFile})" psql "host=${host} port=${config.primary.port} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${caFile}"`,
  };
}
