// The tuned settings a server runs with, and which file set each: pg_settings' sourcefile is the
// file whose line won (conf.d is read in name order), so it tells the limit-derived value from an
// override in pgfort.yaml.
import path from "node:path";
import { z } from "zod";
import { MEMORY_FILE, OVERRIDES_FILE, PARALLELISM_FILE } from "../config/render-conf-d";
import type { DockerClient } from "../docker/client";
import { queryRows, quoteLiteral } from "./sql";

/** The settings `pgfort up` tunes from the limits (src/cluster/tuning.ts), and max_connections, which work_mem depends on. */
export const TUNED_SETTINGS = [
  "shared_buffers",
  "effective_cache_size",
  "work_mem",
  "maintenance_work_mem",
  "max_connections",
  "max_worker_processes",
  "max_parallel_workers",
  "max_parallel_workers_per_gather",
  "max_parallel_maintenance_workers",
] as const;

/** Where a value came from: tuned from the memory or CPU limit, an override in pgfort.yaml, another conf.d file, ALTER SYSTEM, PostgreSQL's default, or something else (command line, environment). */
export type SettingOrigin = "memory-limit" | "cpu-limit" | "settings" | "conf.d" | "alter-system" | "default" | "other";

export interface SettingInForce {
  name: string;
  /** As SHOW prints it, e.g. 256MB. */
  value: string;
  /** pg_settings.source, e.g. "configuration file", "default". */
  source: string;
  /** The file that set it (its name, conf.d being one directory), null when no file did. */
  file: string | null;
  line: number | null;
  origin: SettingOrigin;
  /** The file now says otherwise, and only a restart applies it. */
  pendingRestart: boolean;
}

export const SettingRow = z.object({
  name: z.string(),
  value: z.string(),
  source: z.string(),
  sourcefile: z.string().nullable(),
  sourceline: z.number().nullable(),
  pending_restart: z.boolean(),
});
export type SettingRow = z.infer<typeof SettingRow>;

const ORIGIN_BY_FILE: Record<string, SettingOrigin> = {
  [MEMORY_FILE]: "memory-limit",
  [PARALLELISM_FILE]: "cpu-limit",
  [OVERRIDES_FILE]: "settings",
  "postgresql.auto.conf": "alter-system",
};

/** Pure. */
export function mapSetting(row: SettingRow): SettingInForce {
  const file = row.sourcefile ? path.posix.basename(row.sourcefile) : null;
  const origin: SettingOrigin =
    row.source === "default" ? "default" : row.source === "configuration file" && file ? (ORIGIN_BY_FILE[file] ?? "conf.d") : "other";
  return { name: row.name, value: row.value, source: row.source, file, line: row.sourceline, origin, pendingRestart: row.pending_restart };
}

/** The tuned settings in force in a running server (sourcefile needs the superuser: psql over the socket is). */
export async function settingsInForce(docker: DockerClient, container: string): Promise<SettingInForce[]> {
  const names = `ARRAY[${TUNED_SETTINGS.map(quoteLiteral).join(", ")}]`;
  const rows = await queryRows(
    docker,
    container,
    `SELECT name, current_setting(name) AS value, source, sourcefile, sourceline, pending_restart
       FROM pg_settings WHERE name = ANY (${names}) ORDER BY array_position(${names}, name)`,
    SettingRow,
  );
  return rows.map(mapSetting);
}
