// The host hands a job to the running agent (`docker exec <cluster>-agent pgfort job …`), or to a
// one-off container of the agent image when no agent runs, and follows its NDJSON events. The
// same job code runs either way; backup bytes never cross Docker's attach stream, only events do.
// Ctrl-C half-closes the job's stdin (--stdin-lifeline): the job aborts, removes what it wrote,
// reports, and exits; the host waits for that, so nothing is left behind.
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { Demultiplexer, TextTail } from "../docker/demultiplex";
import { runThrowaway } from "../docker/throwaway";
import { networkName, objectName } from "../docker/names";
import { planS3Access, type S3JobAccess } from "./s3-access";
import { clusterLabels, LABEL_ROLE } from "../docker/labels";
import { ownerLabels } from "../lifecycle/owner";
import { agentImageTag, AGENT_TARGET_DIR, AWS_CREDENTIALS_FILE } from "../agent/contract";
import { planAwsCredentials } from "../agent/plan";
import { secretsDir } from "../cluster/secrets";
import { writeFile } from "node:fs/promises";
import { readTopology } from "../cluster/topology";
import { ContainerError } from "../errors";
import { ensureAgentImage } from "../image/agent-build";
import type { JobEvent } from "../jobs/events";
import { targetInJob } from "./agent-config";
import { prepareTargetDirectory, syncAgentConfig, targetGroup } from "../cluster/agent";
import { JobEventsReader } from "./events-reader";
import { handOffOnSwarm } from "../swarm/handoff";
import { planOneOffJobContainer, type JobContainerContext } from "./job-container";

/** A job that ignores its closed stdin this long after Ctrl-C is killed. */
const ABORT_GRACE_MS = 60_000;

export interface HandOffRequest {
  /** The `pgfort job …` arguments, e.g. ["backup", "--kind", "logical"]. */
  args: string[];
  /** Backups talk to the primary; prune and drills only to the target. */
  needsServer: boolean;
  /** A drill: a one-off container gets a scratch volume of its own (the agent has its own already). */
  scratch?: boolean;
  /** Volumes the job works on (a restore's new data volume): only a one-off container can mount them. */
  mounts?: ReadonlyArray<{ volume: string; target: string }>;
  /** Read-only volumes a one-off container mounts; a running agent has them already (the primary's, for the parallel engine). */
  agentMounts?: ReadonlyArray<{ volume: string; target: string; readOnly: true }>;
  /** A one-off container on the cluster network even for a file:// target (a logical restore's new server). */
  needsNetwork?: boolean;
  /** The one-off container's pgfort.role (default backup; verify for drills). */
  role?: "backup" | "verify" | "restore";
  /** A target other than backups.target (--target): only a one-off container can mount it. */
  targetUrl?: string | undefined;
  onEvent(event: JobEvent): void;
  onInfo?(message: string): void;
  onWarning?(message: string): void;
  /** Where the job runs, said once before it starts. */
  onStart?(where: { mode: "agent" | "one-off"; container: string }): void;
  signal?: AbortSignal | undefined;
}

export function agentContainerName(cluster: string): string {
  return objectName(cluster, "agent");
}

/** The job's result value; its error event is thrown as a PgfortError with the job's code, hint and exit code. */
export async function handOffJob(docker: DockerClient, loaded: LoadedConfig, request: HandOffRequest): Promise<unknown> {
  request.signal?.throwIfAborted();
  if (loaded.config.engine === "swarm") return handOffOnSwarm(docker, loaded, request);
  const { cluster } = loaded.config;
  const agent = agentContainerName(cluster);
  const inspected = await docker.inspectContainerIfExists(agent);
  const ownTarget = request.targetUrl === undefined || request.targetUrl === loaded.config.backups.target;
  const targetUrl = request.targetUrl ?? loaded.config.backups.target;
  const targetDirectory = targetUrl.startsWith("file://") ? path.resolve(loaded.baseDir, targetUrl.slice("file://".length)) : undefined;
  // The job names files by its mount of the target: the user knows them by the host's path.
  const hostView = (text: string) => (targetDirectory ? text.split(AGENT_TARGET_DIR).join(targetDirectory) : text);
  // Both ways: the agent's bind mount is the same directory, and backups written by the host before must stay prunable.
  if (targetDirectory) for (const warning of await prepareTargetDirectory(targetDirectory, cluster)) request.onWarning?.(warning);
  if (ownTarget && !request.mounts?.length && inspected?.State.Running && inspected.Config.Labels?.[LABEL_ROLE] === "agent") {
    request.onStart?.({ mode: "agent", container: agent });
    // An S3 endpoint on the host's loopback: the exec'd job is told the way there, as a one-off is.
    const s3 = targetDirectory ? undefined : planS3Access(loaded.config.backups.s3, await docker.networkGateway(networkName(cluster)));
    // The credentials of this shell, when it has them: the agent may have been made without (up run elsewhere).
    if (s3) for (const warning of (await syncAgentConfig(docker, loaded)).warnings) request.onWarning?.(warning);
    return execInAgent(docker, agent, request, s3 ? withEndpointView(hostView, s3) : hostView, s3 ? Object.entries(s3.env).map(([key, value]) => `${key}=${value}`) : []);
  }
  return runOneOff(docker, loaded, request, targetUrl, targetDirectory, hostView);
}

/** Messages name the endpoint as the host knows it. */
function withEndpointView(hostView: (text: string) => string, s3: S3JobAccess): (text: string) => string {
  const { endpoint, endpointInJob } = s3;
  return endpoint && endpointInJob && endpoint !== endpointInJob ? (text) => hostView(text).split(endpointInJob).join(endpoint) : hostView;
}

async function execInAgent(docker: DockerClient, agent: string, request: HandOffRequest, hostView: (text: string) => string, env: string[]): Promise<unknown> {
  const { signal } = request;
  const exec = await docker.execStream(agent, ["pgfort", "job", ...request.args, "--stdin-lifeline"], { env });
  const stderr = new TextTail(16 * 1024);
  const reader = new JobEventsReader(request.onEvent, hostView);
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    exec.stream.end();
    // A job that ignores its closed stdin: after the grace time the host stops following it.
    timer = setTimeout(() => (exec.stream as unknown as { destroy(): void }).destroy(), ABORT_GRACE_MS);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await pipeline(exec.stream, new Demultiplexer(stderr.append), reader);
  } catch (error) {
    if (!signal?.aborted) throw new ContainerError(`lost the job in ${agent}: ${(error as Error).message}`, "check the agent (docker logs), then run the command again", { cause: error });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  signal?.throwIfAborted();
  return reader.settle(agent, await exec.exitCode(), stderr.toString());
}

async function runOneOff(
  docker: DockerClient,
  loaded: LoadedConfig,
  request: HandOffRequest,
  targetUrl: string,
  targetDirectory: string | undefined,
  hostView: (text: string) => string,
): Promise<unknown> {
  const { config } = loaded;
  const image = agentImageTag(config.image.tag);
  // Built when missing, as `up` does; kept current by `up` and `pgfort build` (checking its digest
  // here would cost every job ~0.4 s).
  if (!(await docker.imageExists(image))) await ensureAgentImage(docker, config.image, { onInfo: request.onInfo });
  let network: JobContainerContext["network"] = targetDirectory && !request.needsNetwork ? { mode: "none" } : { mode: "cluster" };
  if (request.needsServer) {
    const primary = objectName(config.cluster, (await readTopology(loaded.stateDir)).primary);
    if (!(await docker.inspectContainerIfExists(primary))?.State.Running) throw new ContainerError(`the primary ${primary} is not running`, "start the cluster with pgfort up");
    network = { mode: "primary", container: primary };
  }
  const s3 = targetDirectory ? undefined : planS3Access(config.backups.s3, await docker.networkGateway(networkName(config.cluster)));
  // A --target on S3 beside a file:// config: the agent's config step writes no credentials then.
  const credentials = s3 && !config.backups.target.startsWith("s3://") ? planAwsCredentials(process.env) : undefined;
  if (credentials) await writeFile(path.join(secretsDir(loaded.stateDir), AWS_CREDENTIALS_FILE), credentials, { mode: 0o600 });
  // The agent's config (and, for S3, the credentials of this shell): the volume may have none yet.
  const [engine, synced] = await Promise.all([docker.engineInfo(), syncAgentConfig(docker, loaded)]);
  for (const warning of synced.warnings) request.onWarning?.(warning);
  const role = request.role ?? (request.scratch ? "verify" : "backup");
  const node = `${role}-${randomBytes(3).toString("hex")}`;
  const args = request.targetUrl === undefined ? request.args : [...request.args, "--target", targetInJob(targetUrl)];
  // Labelled with its owner like the container: the reaper takes both when this process dies first.
  const scratchVolume = request.scratch ? `${objectName(config.cluster, node)}-scratch` : undefined;
  if (scratchVolume) await docker.ensureVolume(scratchVolume, { ...clusterLabels(config.cluster, "verify", node), ...ownerLabels() });
  const create = planOneOffJobContainer({ config, node, args, network, role, hostCpus: engine.cpus, ...(request.mounts || request.agentMounts ? { mounts: [...(request.mounts ?? []), ...(request.agentMounts ?? [])] } : {}), ...(targetDirectory ? { targetDirectory, targetGroup: await targetGroup(targetDirectory) } : {}), ...(s3 ? { env: s3.env } : {}), ...(scratchVolume ? { scratchVolume } : {}) });
  request.onStart?.({ mode: "one-off", container: create.name ?? node });
  const reader = new JobEventsReader(request.onEvent, s3 ? withEndpointView(hostView, s3) : hostView);
  const lifeline = new PassThrough();
  const kill = new AbortController();
  const { signal } = request;
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    lifeline.end();
    timer = setTimeout(() => kill.abort(signal?.reason), ABORT_GRACE_MS);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  // The stdin flow must end too once the job's output has: the container is done.
  reader.once("finish", () => lifeline.end());
  try {
    const job = await runThrowaway(docker, { create, stdout: [reader], stdin: lifeline, signal: kill.signal });
    signal?.throwIfAborted();
    return reader.settle(create.name ?? node, job.exitCode, job.stderr.toString());
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    lifeline.end();
    // After the container (runThrowaway removed it): the volume is free.
    if (scratchVolume) await docker.removeVolume(scratchVolume).catch(() => undefined);
  }
}
