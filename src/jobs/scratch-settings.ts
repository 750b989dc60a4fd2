// The settings of a drill's scratch server, sized to the job's own limits (the container's memory
// limit, read from its cgroup), and its owner mark. Pure: text in, settings out.

const MiB = 1024 * 1024;

/** The memory limit of this container from cgroup v2 memory.max or v1 memory.limit_in_bytes; null when unlimited or unreadable. */
export function parseMemoryLimit(text: string | undefined): number | null {
  const value = text?.trim();
  if (!value || !/^\d+$/.test(value)) return null; // "max", or no such file
  const bytes = Number(value);
  // cgroup v1 says "unlimited" with a huge page-rounded number.
  return bytes > 0 && bytes < 2 ** 60 ? bytes : null;
}

export interface ScratchLimits {
  /** The job container's memory limit, or null (then `fallbackBytes`, the machine's memory). */
  memoryBytes: number | null;
  fallbackBytes: number;
  /** pg_amcheck's --jobs. */
  jobs: number;
}

function clampMiB(bytes: number, minMiB: number, maxMiB: number): number {
  return Math.max(minMiB, Math.min(maxMiB, Math.floor(bytes / MiB)));
}

/**
 * A server that lives for one drill and holds a copy of data that is safe elsewhere: fsync,
 * synchronous_commit and full_page_writes are off (a crash of the drill loses only the drill, which
 * then gives no verdict), autovacuum too. Memory: shared_buffers 1/16 of the limit (16 to 256 MB),
 * maintenance_work_mem (index builds of the restore, pg_amcheck's --heapallindexed filter, once per
 * amcheck job) 1/8 of the limit shared by the jobs; no parallel workers (the job's CPU limit is the
 * drill's); connections for the amcheck jobs and the restore only. listen_addresses, the socket and
 * the hba file are fixed by scratch-start itself.
 */
export function scratchSettings(limits: ScratchLimits): Record<string, string> {
  const memory = limits.memoryBytes ?? limits.fallbackBytes;
  const jobs = Math.max(1, limits.jobs);
  return {
    port: "5432",
    max_connections: String(jobs + 8),
    shared_buffers: `${clampMiB(memory / 16, 16, 256)}MB`,
    maintenance_work_mem: `${clampMiB(memory / 8 / jobs, 16, 256)}MB`,
    work_mem: "4MB",
    max_parallel_workers_per_gather: "0",
    max_parallel_maintenance_workers: "0",
    huge_pages: "off",
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    autovacuum: "off",
    max_wal_size: "1GB",
    cluster_name: "pgfort-drill",
    logging_collector: "off",
  };
}

/** postgresql.conf lines; values are ours (numbers, words), quoted as the config file wants. */
export function renderSettings(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${name} = '${value.replace(/'/g, "''")}'`)
    .join("\n");
}

/** Field 22 of /proc/PID/stat: the process's start time, which tells a reused pid from the owner. */
export function processStartTime(statText: string): string | null {
  const afterName = statText.slice(statText.lastIndexOf(")") + 2).split(" ");
  return afterName[19] ?? null; // fields 3.. follow the name
}

/** CPUs from cgroup v2 cpu.max (`QUOTA PERIOD`, or `max PERIOD`), rounded up; null when unlimited. */
export function parseCpuLimit(text: string | undefined): number | null {
  const [quota, period] = (text?.trim() ?? "").split(/\s+/);
  if (!quota || !period || !/^\d+$/.test(quota) || !/^\d+$/.test(period) || Number(period) === 0) return null;
  return Math.max(1, Math.ceil(Number(quota) / Number(period)));
}
