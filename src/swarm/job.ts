// One-shot work on a swarm's nodes: pgfort cannot `docker exec` on a node other than the manager
// it talks to, so what must run there (a statement on a server, removing a node's volumes) runs as
// a job service — a replicated job pinned to one node, or a global job on every node that is up —
// whose tasks pgfort waits for and whose log it reads, then removes.
import type { Dockerode } from "../docker/client";
import type { SwarmClient, TaskInfo } from "../docker/swarm";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { SwarmError } from "../errors";

export interface JobPlan {
  name: string;
  labels: Record<string, string>;
  image: string;
  user: string;
  /** The entrypoint, replaced; absent: the image's, with `args`. */
  command?: string[];
  args?: string[];
  env?: string[];
  mounts?: Array<Record<string, unknown>>;
  secrets?: unknown[];
  network?: string;
  /** A hostname: one task there; absent: one task on every node that is up. */
  node?: string;
  /** The service's Resources (a backup job gets the agent's limits). */
  resources?: Record<string, unknown>;
  /** Docker's init as PID 1 (a drill's scratch postmaster is reparented to it). */
  init?: boolean;
}

/** The job's service spec. Pure. */
export function planJobService(job: JobPlan): Dockerode.ServiceSpec {
  return {
    Name: job.name,
    Labels: job.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: job.image,
        Labels: job.labels,
        User: job.user,
        ...(job.command ? { Command: job.command } : {}),
        ...(job.args ? { Args: job.args } : {}),
        ...(job.env ? { Env: job.env } : {}),
        ReadOnly: true,
        ...({ CapabilityDrop: ["ALL"] } as object),
        Mounts: job.mounts ?? [],
        ...(job.secrets ? { Secrets: job.secrets } : {}),
        ...(job.init ? { Init: true } : {}),
      },
      ...(job.resources ? { Resources: job.resources } : {}),
      RestartPolicy: { Condition: "none" },
      ...(job.node ? { Placement: { Constraints: [`node.hostname == ${job.node}`] } } : {}),
      ...(job.network ? { Networks: [{ Target: job.network }] } : {}),
    },
    Mode: job.node ? { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } } : { GlobalJob: {} },
  } as unknown as Dockerode.ServiceSpec;
}

export interface JobOutcome {
  tasks: TaskInfo[];
  log: string;
}

export interface RunJobOptions {
  /** Return a failed task with its log instead of throwing (the job's own error event says more). */
  tolerateFailure?: boolean;
  /** Ctrl-C: the job service is removed (its task stopped) and the reason thrown. */
  signal?: AbortSignal | undefined;
}

/** A finished task's exit code, from the engine's "task: non-zero exit (N)"; 0 for a completed one. */
export function taskExitCode(task: TaskInfo): number {
  if (task.state === "complete") return 0;
  return Number(/non-zero exit \((\d+)\)/.exec(task.error ?? "")?.[1] ?? 1);
}

const FINISHED = ["complete", "failed", "rejected"];

/** Runs the job until `tasks` of its tasks finished, and removes it; a task that did not complete is an error with the job's log. */
export async function runJob(swarm: SwarmClient, job: JobPlan, tasks: number, timeoutMs: number, options: RunJobOptions = {}): Promise<JobOutcome> {
  await swarm.removeService(job.name);
  await swarm.createService(planJobService(job));
  try {
    const finished = await pollUntil(
      { timeoutMs, intervalMs: 500, ...(options.signal ? { signal: options.signal } : {}) },
      async () => {
        const current = (await swarm.tasks(job.name)).filter((task) => FINISHED.includes(task.state));
        return current.length >= tasks ? done(current) : NOT_YET;
      },
      async () => new SwarmError(`job ${job.name} did not finish in ${timeoutMs / 1000} s; its log:\n${await swarm.serviceLogs(job.name)}`, `docker service ps --no-trunc ${job.name}`),
    );
    const log = await swarm.serviceLogs(job.name);
    const failed = finished.filter((task) => task.state !== "complete");
    if (failed.length > 0 && !options.tolerateFailure) {
      throw new SwarmError(`job ${job.name} failed (${failed.map((task) => `${task.state}${task.error ? `: ${task.error}` : ""}`).join("; ")}); its log:\n${log}`, "read the log above");
    }
    return { tasks: finished, log };
  } finally {
    await swarm.removeService(job.name);
  }
}
