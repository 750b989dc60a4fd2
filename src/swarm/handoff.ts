// `pgfort backup run|verify|prune` with `engine: swarm`: the job runs where the agent runs, beside
// the primary, as a one-shot job service made from the agent service's own spec (its image, its
// secrets, its socket volume and the primary's volumes, its environment, its limits), with
// `pgfort job …` as its command. pgfort cannot `docker exec` on another node, so the job's NDJSON
// events are read from the service's log once it ended: the result or the error comes back as on
// one host, without live progress. Ctrl-C removes the job service: its task is stopped, and the job
// aborts as on SIGTERM anywhere (removes what it wrote). A drill gets a scratch volume of its own
// on the agent's node (`<cluster>-jobs-scratch`, removed by `down --volumes`), and one drill by
// hand runs at a time (drills sweep the directories of drills they cannot see running).
import { randomBytes } from "node:crypto";
import { finished } from "node:stream/promises";
import type { LoadedConfig } from "../config/load";
import type { DockerClient, Dockerode } from "../docker/client";
import { clusterLabels } from "../docker/labels";
import { agentContainerName, objectName } from "../docker/names";
import { AGENT_SCRATCH_DIR } from "../agent/contract";
import type { HandOffRequest } from "../handoff/run-job";
import { JobEventsReader } from "../handoff/events-reader";
import { SwarmError } from "../errors";
import { runJob, taskExitCode, type JobPlan } from "./job";
import { swarmFilter } from "./plan";
import { managerOf } from "./up";

/** A job of `pgfort job …` may take this long (a large physical backup). */
const JOB_TIMEOUT_MS = 24 * 3600_000;

type AgentSpec = Dockerode.ServiceSpec & {
  TaskTemplate: {
    ContainerSpec: { Image?: string; User?: string; Env?: string[]; Mounts?: Array<Record<string, any>>; Secrets?: unknown[]; Init?: boolean };
    Placement?: { Constraints?: string[] };
    Networks?: Array<{ Target?: string }>;
    Resources?: Record<string, unknown>;
  };
};

/** The job service, from the agent's spec. Pure. */
export function planHandOffJob(agent: Dockerode.ServiceSpec, cluster: string, request: Pick<HandOffRequest, "args" | "scratch" | "role">, suffix: string): JobPlan {
  const spec = agent as AgentSpec;
  const container = spec.TaskTemplate.ContainerSpec;
  const node = spec.TaskTemplate.Placement?.Constraints?.find((item) => item.startsWith("node.hostname == "))?.slice("node.hostname == ".length);
  if (!container.Image || !node) throw new SwarmError(`the agent service of ${cluster} has no image or no node`, "run pgfort up");
  const role = request.role ?? (request.scratch ? "verify" : "backup");
  const name = objectName(cluster, `${role}-${suffix}`);
  const labels = clusterLabels(cluster, role, `${role}-${suffix}`);
  // The agent's own scratch stays the agent's: a drill here gets the jobs' volume.
  const mounts = (container.Mounts ?? []).filter((mount) => mount["Target"] !== AGENT_SCRATCH_DIR);
  if (request.scratch) mounts.push({ Type: "volume", Source: objectName(cluster, "jobs-scratch"), Target: AGENT_SCRATCH_DIR, VolumeOptions: { Labels: clusterLabels(cluster, "verify", "jobs-scratch") } });
  return {
    name,
    labels,
    image: container.Image,
    user: container.User ?? "999:999",
    args: ["job", ...request.args],
    env: container.Env ?? [],
    mounts,
    secrets: container.Secrets ?? [],
    network: spec.TaskTemplate.Networks?.[0]?.Target ?? "",
    node,
    init: Boolean(container.Init),
    ...(spec.TaskTemplate.Resources ? { resources: spec.TaskTemplate.Resources } : {}),
  };
}

export async function handOffOnSwarm(docker: DockerClient, loaded: LoadedConfig, request: HandOffRequest): Promise<unknown> {
  const { cluster, backups } = loaded.config;
  if (request.mounts?.length) throw new SwarmError("pgfort restore does not work on a swarm yet", "the new server's volume would be on a node pgfort cannot reach: restore with a config of engine: docker");
  if (request.targetUrl !== undefined && request.targetUrl !== backups.target) {
    throw new SwarmError(`--target ${request.targetUrl}: on a swarm a job runs beside the agent, with the agent's target ${backups.target}`, "drop --target, or change backups.target and run pgfort up");
  }
  const swarm = await managerOf(docker);
  const agent = await swarm.service(agentContainerName(cluster));
  if (!agent) throw new SwarmError(`no agent service runs for cluster ${cluster} on this swarm`, "a swarm's jobs run beside its agent: set an s3:// backups.target and run pgfort up");
  if (request.scratch) {
    const drills = (await swarm.services(swarmFilter(cluster))).filter((service) => service.name.startsWith(objectName(cluster, "verify-")));
    if (drills.length > 0) throw new SwarmError(`a drill by hand runs already on this swarm (${drills.map((service) => service.name).join(", ")})`, "wait for it to end, then run this one");
  }
  const job = planHandOffJob(agent.spec, cluster, request, randomBytes(3).toString("hex"));
  request.onStart?.({ mode: "one-off", container: `${job.name} (a job service on ${job.node ?? "?"})` });
  const { tasks, log } = await runJob(swarm, job, 1, JOB_TIMEOUT_MS, { tolerateFailure: true, signal: request.signal });
  const reader = new JobEventsReader(request.onEvent);
  reader.end(Buffer.from(`${log}\n`));
  await finished(reader);
  const task = tasks[0];
  return reader.settle(job.name, task ? taskExitCode(task) : 1, task?.error ?? "");
}
