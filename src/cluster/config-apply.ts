// `pgfort config check|apply`: render conf.d, let the running server judge it, reload or roll back.
import { z } from "zod";
import { diffConfFiles, type ConfFiles, type FileChange } from "../config/render-conf-d";
import type { DockerClient } from "../docker/client";
import { ConfigError } from "../errors";
import { setTimeout as sleep } from "node:timers/promises";
import { DATA_DIR, type NodePlan } from "./plan";
import { queryRows, runSql } from "./sql";
import { readConfD, writeConfD } from "./state";

export interface SettingChange {
  name: string;
  from: string | undefined;
  to: string | undefined;
}

export interface ConfigReport {
  node: string;
  files: FileChange[];
  settings: SettingChange[];
  applied: boolean;
  pendingRestart: string[];
  restarted: boolean;
}

/** What `apply` would change, file by file and setting by setting. Touches nothing. */
export async function checkConfig(plan: NodePlan): Promise<ConfigReport> {
  return reportChanges(plan, await readConfD(plan.confDir));
}

function reportChanges(plan: NodePlan, current: ConfFiles): ConfigReport {
  return {
    node: plan.node,
    files: diffConfFiles(current, plan.confD),
    settings: diffSettings(current, plan.confD),
    applied: false,
    pendingRestart: [],
    restarted: false,
  };
}

/**
 * Writes the new files, has the server validate them (`postgres -C` reads the whole configuration
 * like a start would), and either reloads or puts the previous files back and throws. The server
 * is never reloaded onto, nor left with, a configuration it rejects.
 */
export async function applyConfig(
  docker: DockerClient,
  plan: NodePlan,
  options: { restart: boolean; healthTimeoutMs?: number },
): Promise<ConfigReport> {
  const previous = await readConfD(plan.confDir);
  const report = reportChanges(plan, previous);
  if (report.files.length === 0) return report;
  await writeConfD(plan.confDir, plan.confD);
  const rejection = await validateInServer(docker, plan.name);
  if (rejection) {
    await writeConfD(plan.confDir, previous);
    throw new ConfigError(
      `${plan.name} rejects the new configuration: ${rejection}`,
      "fix the setting in pgfort.yaml (primary.settings); the previous conf.d files were put back and the server runs on them unchanged",
    );
  }
  await reloadAndWait(docker, plan.name);
  const pendingRestart = await settingsPendingRestart(docker, plan.name);
  let restarted = false;
  if (options.restart && pendingRestart.length > 0) {
    await docker.restartContainer(plan.name);
    await docker.waitUntilHealthy(plan.name, options.healthTimeoutMs);
    restarted = true;
  }
  return { ...report, applied: true, pendingRestart: restarted ? [] : pendingRestart, restarted };
}

/** The server's own complaints about its configuration files, or undefined when it accepts them. */
async function validateInServer(docker: DockerClient, container: string): Promise<string | undefined> {
  const result = await docker.exec(container, [
    "postgres",
    "-D",
    DATA_DIR,
    "-c",
    "config_file=/etc/postgresql/postgresql.conf",
    "-C",
    "data_directory",
  ]);
  if (result.exitCode === 0) return undefined;
  const messages = result.stderr
    .split("\n")
    .map((line) => /\b(?:LOG|FATAL|ERROR):\s+(.*)$/.exec(line)?.[1])
    .filter((message): message is string => Boolean(message) && !/contains errors$/.test(message ?? ""));
  return messages.join("; ") || result.stderr.trim();
}

const PendingRow = z.object({ name: z.string() });
const LoadTimeRow = z.object({ loaded: z.string() });

/** Reloads and waits until new sessions see it: pg_conf_load_time() moves when the postmaster re-reads. */
async function reloadAndWait(docker: DockerClient, container: string): Promise<void> {
  const loadTime = async () =>
    (await queryRows(docker, container, "SELECT pg_conf_load_time()::text AS loaded", LoadTimeRow))[0]?.loaded;
  const before = await loadTime();
  await runSql(docker, container, "SELECT pg_reload_conf();");
  for (let attempt = 0; attempt < 50 && (await loadTime()) === before; attempt += 1) await sleep(100);
}

async function settingsPendingRestart(docker: DockerClient, container: string): Promise<string[]> {
  const rows = await queryRows(docker, container, "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name", PendingRow);
  return rows.map((row) => row.name);
}

const SETTING_LINE = /^\s*([a-z_][a-z0-9_.]*)\s*=\s*(.*?)\s*(?:#.*)?$/;

/** Settings in effect by file order (include_dir reads names in order; the last value counts). */
export function effectiveSettings(files: ConfFiles): Map<string, string> {
  const settings = new Map<string, string>();
  for (const name of [...files.keys()].sort()) {
    for (const line of (files.get(name) ?? "").split("\n")) {
      const match = SETTING_LINE.exec(line);
      if (match?.[1] && match[2] !== undefined) settings.set(match[1], match[2].replace(/^'(.*)'$/, "$1"));
    }
  }
  return settings;
}

export function diffSettings(current: ConfFiles, next: ConfFiles): SettingChange[] {
  const before = effectiveSettings(current);
  const after = effectiveSettings(next);
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names
    .filter((name) => before.get(name) !== after.get(name))
    .map((name) => ({ name, from: before.get(name), to: after.get(name) }));
}
