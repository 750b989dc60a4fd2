// The job container's own limits, read from its cgroup: what a scratch server is sized to.
import { readFile } from "node:fs/promises";
import os from "node:os";
import { parseCpuLimit, parseMemoryLimit } from "./scratch-settings";

/** The job container's own limits from its cgroup (v2, else v1): memory, and CPUs for pg_amcheck's --jobs. */
export async function readLimits(): Promise<{ memoryBytes: number | null; jobs: number }> {
  const read = (file: string) => readFile(file, "utf8").catch(() => undefined);
  const memoryBytes = parseMemoryLimit((await read("/sys/fs/cgroup/memory.max")) ?? (await read("/sys/fs/cgroup/memory/memory.limit_in_bytes")));
  const cpus = parseCpuLimit(await read("/sys/fs/cgroup/cpu.max"));
  return { memoryBytes, jobs: Math.max(1, Math.min(os.availableParallelism(), cpus ?? os.availableParallelism())) };
}
