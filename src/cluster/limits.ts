// Resource limits from the config to Docker HostConfig, and Docker's warnings back to config keys. Pure.
import type { Resources } from "../config/schema";

export interface HostLimits {
  Memory?: number;
  MemorySwap?: number;
  MemorySwappiness?: number;
  NanoCpus?: number;
  CpuShares?: number;
  BlkioWeight?: number;
  PidsLimit?: number;
  ShmSize?: number;
  Ulimits?: Array<{ Name: string; Soft: number; Hard: number }>;
}

export function planResourceLimits(resources: Resources): HostLimits {
  const limits: HostLimits = {};
  if (resources.memory !== undefined) {
    limits.Memory = resources.memory;
    // Docker's MemorySwap is memory + swap; equal to Memory means no swap at all.
    limits.MemorySwap = resources.memory + (resources.swap ?? 0);
  }
  if (resources.swappiness !== undefined) limits.MemorySwappiness = resources.swappiness;
  if (resources.cpus !== undefined) limits.NanoCpus = Math.round(resources.cpus * 1e9);
  if (resources.cpuShares !== undefined) limits.CpuShares = resources.cpuShares;
  if (resources.blkioWeight !== undefined) limits.BlkioWeight = resources.blkioWeight;
  if (resources.pids !== undefined) limits.PidsLimit = resources.pids;
  if (resources.shm !== undefined) limits.ShmSize = resources.shm;
  if (resources.nofile !== undefined) limits.Ulimits = [{ Name: "nofile", Soft: resources.nofile, Hard: resources.nofile }];
  return limits;
}

/** Docker's create warnings say what the kernel cannot honour; this names the config key behind each. */
const WARNING_KEYS: Array<[RegExp, keyof Resources]> = [
  [/block i\/o weight|blkio weight/i, "blkioWeight"],
  [/swappiness/i, "swappiness"],
  [/swap limit|memory swap/i, "swap"],
  [/memory limit|memory cgroup/i, "memory"],
  [/cpu shares/i, "cpuShares"],
  [/nanocpus|cpu cfs|cpu quota|cpu period/i, "cpus"],
  [/pids limit|pids cgroup/i, "pids"],
];

export function explainLimitWarnings(warnings: readonly string[], resourcesPath: string): string[] {
  return warnings.map((warning) => {
    const key = WARNING_KEYS.find(([pattern]) => pattern.test(warning))?.[1];
    const text = warning.trim();
    return key ? `${resourcesPath}.${key} is not honoured by this host: ${text}` : `Docker: ${text}`;
  });
}
