// The conf.d directory a cluster runs with: the repository's aspect files, with the memory and
// parallelism aspects computed from the container's limits and the overrides from `settings:`.
// Pure: the default files come in as a map, the rendered files go out as one.
import type { Settings } from "./schema";

export type ConfFiles = ReadonlyMap<string, string>;

/** Settings computed from a container's limits (src/cluster/tuning.ts), rendered into their aspect file. */
export type TunedSettings = Record<string, string | number>;

export const MEMORY_FILE = "10-memory.conf";
export const PARALLELISM_FILE = "15-parallelism.conf";
export const OVERRIDES_FILE = "90-overrides.conf";
export const ARCHIVE_FILE = "25-archive.conf";
export const SSL_FILE = "50-ssl.conf";

export interface RenderInput {
  defaults: ConfFiles;
  memory: TunedSettings;
  parallelism: TunedSettings;
  overrides: Settings;
  /** WAL archiving into the agent (src/wal/archive-settings.ts). */
  archive: Readonly<Record<string, string | number | boolean>>;
  /** TLS: the certificate files in the secrets volume (src/cluster/plan.ts: planSslSettings). */
  ssl: Readonly<Record<string, string | number | boolean>>;
  /** Where the numbers came from, for the files' headers, e.g. "memory limit 512 MiB". */
  memorySource: string;
  cpuSource: string;
}

export function renderConfD(input: RenderInput): Map<string, string> {
  const files = new Map(input.defaults);
  files.set(
    MEMORY_FILE,
    renderFile(
      [
        `Memory, computed by pgfort from the ${input.memorySource}: shared_buffers 25%, effective_cache_size 75%,`,
        "maintenance_work_mem 1/16 (64MB..2GB), work_mem (memory - shared_buffers) / (3 x max_connections).",
        `Do not edit: settings in ${OVERRIDES_FILE} (primary.settings in pgfort.yaml) win over these.`,
      ],
      {
        ...input.memory,
        // Docker's default /dev/shm is 64 MB; pgfort sets ShmSize, and posix shared memory lives there.
        dynamic_shared_memory_type: "posix",
        huge_pages: "off",
      },
    ),
  );
  files.set(
    PARALLELISM_FILE,
    renderFile(
      [`Parallelism, computed by pgfort from the ${input.cpuSource}. Do not edit: use primary.settings.`],
      input.parallelism,
    ),
  );
  files.set(
    ARCHIVE_FILE,
    renderFile(
      [
        "WAL archiving, from wal: in pgfort.yaml: each WAL file is handed to the cluster's agent, which",
        "stores it in the backup target; archive_command returns only once it is stored (or, past",
        "wal.maxPending, gives it up as a recorded gap). Do not edit: use wal: in pgfort.yaml.",
        "PostgreSQL 17+: summarize_wal, the WAL summaries incremental backups are taken from.",
      ],
      input.archive,
    ),
  );
  files.set(
    SSL_FILE,
    renderFile(
      [
        "TLS, on for every network connection (pg_hba.conf has hostssl lines only; the Unix socket is",
        "unchanged). The files come from the cluster's secrets volume: pgfort tls rotate replaces them",
        "and reloads. Do not edit: use tls: in pgfort.yaml.",
      ],
      input.ssl,
    ),
  );
  files.set(
    OVERRIDES_FILE,
    renderFile(
      [
        "Overrides: primary.settings from pgfort.yaml. Read last (include_dir reads files in name order),",
        "so these win over every other file.",
      ],
      input.overrides,
    ),
  );
  return files;
}

export function renderFile(header: readonly string[], settings: Readonly<Record<string, string | number | boolean>>): string {
  const lines = header.map((line) => `# ${line}`);
  for (const [name, value] of Object.entries(settings)) lines.push(`${name} = ${formatValue(value)}`);
  return `${lines.join("\n")}\n`;
}

/** postgresql.conf syntax: numbers bare, booleans on/off, strings single-quoted with '' for a quote. */
export function formatValue(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "on" : "off";
  if (typeof value === "number") return String(value);
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

export interface FileChange {
  file: string;
  change: "added" | "changed" | "removed";
}

/** Which files differ between what is on disk and what was rendered. */
export function diffConfFiles(current: ConfFiles, next: ConfFiles): FileChange[] {
  const changes: FileChange[] = [];
  for (const [file, content] of next) {
    if (!current.has(file)) changes.push({ file, change: "added" });
    else if (current.get(file) !== content) changes.push({ file, change: "changed" });
  }
  for (const file of current.keys()) if (!next.has(file)) changes.push({ file, change: "removed" });
  return changes.sort((a, b) => a.file.localeCompare(b.file));
}
