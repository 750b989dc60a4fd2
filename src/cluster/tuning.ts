// Postgres settings derived from the container's limits. Pure; the README documents the formulas.
// Sizes are rendered in kB or MB, the units postgresql.conf reads.

import type { TunedSettings } from "../config/render-conf-d";

const MB = 1024 * 1024;
const KB = 1024;

export interface TuningInput {
  /** The container's memory limit; the host's memory when the container has none. */
  memoryBytes: number;
  /** The container's CPU limit (cpus); the host's CPU count when the container has none. */
  cpus: number;
  maxConnections: number;
}


/**
 * shared_buffers 25% of memory, effective_cache_size 75%, maintenance_work_mem 1/16 (64 MB..2 GB),
 * work_mem (memory - shared_buffers) / (3 × max_connections) (at least 1 MB: a sort can use a few
 * work_mem at once, and not every connection sorts at the same moment).
 */
export function tuneMemory({ memoryBytes, maxConnections }: TuningInput): TunedSettings {
  const sharedBuffers = Math.max(16 * MB, roundDownTo(memoryBytes / 4, MB));
  const workMem = Math.max(1 * MB, roundDownTo((memoryBytes - sharedBuffers) / (3 * Math.max(1, maxConnections)), KB));
  const maintenanceWorkMem = clamp(roundDownTo(memoryBytes / 16, MB), 64 * MB, 2048 * MB);
  return {
    shared_buffers: `${sharedBuffers / MB}MB`,
    effective_cache_size: `${roundDownTo((memoryBytes * 3) / 4, MB) / MB}MB`,
    maintenance_work_mem: `${maintenanceWorkMem / MB}MB`,
    work_mem: `${workMem / KB}kB`,
  };
}

/**
 * Parallelism from the CPU limit: as many parallel workers as whole CPUs, half of them per query
 * (none below 2 CPUs: a parallel plan on one CPU only adds overhead), and room for other workers.
 */
export function tuneCpu({ cpus }: TuningInput): TunedSettings {
  const wholeCpus = Math.max(1, Math.floor(cpus));
  const perQuery = Math.floor(wholeCpus / 2);
  return {
    max_worker_processes: Math.max(8, wholeCpus + 4),
    max_parallel_workers: wholeCpus,
    max_parallel_workers_per_gather: perQuery,
    max_parallel_maintenance_workers: perQuery,
  };
}

function roundDownTo(value: number, unit: number): number {
  return Math.floor(value / unit) * unit;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
