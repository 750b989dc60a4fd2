// A container's live usage, as the engine and the kernel can tell it: memory and CPU from the
// engine's stats, OOM kills from the container's own memory cgroup, restarts from `inspect`.
//
// OOM kills: State.OOMKilled says only whether the container's *main* process was killed at its last
// exit. Under a memory limit the kernel kills the biggest process, for Postgres a backend, and the
// postmaster survives (it ends every session, recovers, and goes on), so the container keeps running
// with OOMKilled false and RestartCount 0 (measured). The kernel's own counter sees every kill: oom_kill
// in memory.events (cgroup v2) or memory.oom_control (cgroup v1). The engine's stats do not carry it,
// so it is read inside the container, where /sys/fs/cgroup is the container's own cgroup; it counts
// from the container's last start (a start makes a new cgroup).
import { z } from "zod";
import type { ContainerInspect, DockerClient } from "../docker/client";

export interface ContainerUsage {
  /** As `docker stats` shows it: the cgroup's usage less its inactive page cache. */
  memoryUsedBytes: number | null;
  /** The cgroup's limit as the kernel enforces it (the host's memory when the container has none). */
  memoryLimitBytes: number | null;
  /** As `docker stats` shows it: 100 is one CPU's worth, over the engine's sampling interval (about 1 s). */
  cpuPercent: number | null;
  /** The kernel's count of OOM kills in the container's cgroup since its last start; null when unreadable. */
  oomKills: number | null;
  /** State.OOMKilled: the container's last exit was an OOM kill of its main process. */
  lastExitOomKilled: boolean;
  /** RestartCount: restarts by the restart policy since the container was created. */
  restarts: number;
}

const CpuSchema = z.object({
  cpu_usage: z.object({ total_usage: z.number(), percpu_usage: z.array(z.number()).nullish() }).partial().nullish(),
  system_cpu_usage: z.number().nullish(),
  online_cpus: z.number().nullish(),
});
// What the engine answers for a running container; for a stopped one the same keys, empty or zero.
const StatsSchema = z.object({
  memory_stats: z.object({ usage: z.number().nullish(), limit: z.number().nullish(), stats: z.record(z.string(), z.number()).nullish() }).nullish(),
  cpu_stats: CpuSchema.nullish(),
  precpu_stats: CpuSchema.nullish(),
});

/** Memory and CPU from one answer of the engine's stats (stream=false). Pure; null for what it does not say. */
export function mapStats(raw: unknown): Pick<ContainerUsage, "memoryUsedBytes" | "memoryLimitBytes" | "cpuPercent"> {
  const parsed = StatsSchema.safeParse(raw);
  if (!parsed.success) return { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null };
  const memory = parsed.data.memory_stats;
  const usage = memory?.usage ?? null;
  // docker CLI's calculateMemUsageUnixNoCache: cgroup v1 reports total_inactive_file, v2 inactive_file.
  const inactive = memory?.stats?.["total_inactive_file"] ?? memory?.stats?.["inactive_file"] ?? 0;
  const memoryUsedBytes = usage === null || usage === 0 ? null : inactive < usage ? usage - inactive : usage;
  return { memoryUsedBytes, memoryLimitBytes: memory?.limit || null, cpuPercent: cpuPercent(parsed.data.cpu_stats, parsed.data.precpu_stats) };
}

type CpuStats = z.infer<typeof CpuSchema> | null | undefined;

/** docker CLI's calculateCPUPercentUnix: the container's share of the host's CPU time, times the CPUs. */
function cpuPercent(current: CpuStats, previous: CpuStats): number | null {
  const used = current?.cpu_usage?.total_usage;
  const system = current?.system_cpu_usage;
  const usedBefore = previous?.cpu_usage?.total_usage;
  const systemBefore = previous?.system_cpu_usage;
  if (used == null || system == null || usedBefore == null || systemBefore == null) return null;
  const cpus = current?.online_cpus || current?.cpu_usage?.percpu_usage?.length || 0;
  const systemDelta = system - systemBefore;
  const usedDelta = used - usedBefore;
  if (systemDelta <= 0 || usedDelta < 0 || cpus === 0) return null;
  return Math.round((usedDelta / systemDelta) * cpus * 100 * 100) / 100;
}

/** The oom_kill counter from memory.events (v2) or memory.oom_control (v1) text; null when neither has it. Pure. */
export function parseOomKills(text: string): number | null {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match?.[1] ? Number(match[1]) : null;
}

/** Both files: one of them exists, depending on the host's cgroup version. */
export const OOM_COUNTER_FILES = ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"];

/** Live usage of a container; a stopped one has only its restarts and its last exit's OOM flag. */
export async function readUsage(docker: DockerClient, info: ContainerInspect): Promise<ContainerUsage> {
  const name = info.Name.replace(/^\//, "");
  const base = { lastExitOomKilled: info.State.OOMKilled, restarts: info.RestartCount };
  if (!info.State.Running) return { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null, oomKills: null, ...base };
  const [stats, oom] = await Promise.all([
    // Usage is for people to read: a failed reading shows as unknown, it never fails `status`.
    docker.containerStats(name).catch(() => undefined),
    // cat exits 1 for the file this cgroup version lacks and still prints the other.
    docker.exec(name, ["cat", ...OOM_COUNTER_FILES]).then((result) => parseOomKills(result.stdout)).catch(() => null),
  ]);
  return { ...mapStats(stats), oomKills: oom, ...base };
}
