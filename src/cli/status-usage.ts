// `pgfort status`: each container's live usage, and the tuned settings each server runs with.
import type { SettingInForce } from "../cluster/settings-in-force";
import type { ContainerUsage } from "../cluster/usage";
import { formatBytes } from "./output";

/** Columns padded to their widest cell. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
}

/** One row per container: nodes, and the agent when it exists. */
export function formatUsageTable(containers: ReadonlyArray<{ container: string; usage: ContainerUsage }>): string[] {
  const rows = containers.map(({ container, usage }) => [
    container,
    usage.memoryUsedBytes === null ? "-" : `${formatBytes(usage.memoryUsedBytes)} / ${usage.memoryLimitBytes === null ? "-" : formatBytes(usage.memoryLimitBytes)}`,
    usage.cpuPercent === null ? "-" : `${usage.cpuPercent.toFixed(1)}%`,
    `${usage.oomKills ?? "-"}${usage.lastExitOomKilled ? " (last exit: OOM kill)" : ""}`,
    String(usage.restarts),
  ]);
  return formatTable(["CONTAINER", "MEMORY USED / LIMIT", "CPU", "OOM KILLS", "RESTARTS"], rows);
}

export interface SettingsOfNode {
  node: string;
  role: string;
  limits: { memoryBytes: number | null; cpus: number | null };
  settings: SettingInForce[] | null;
}

/** Where a value came from, for people: "10-memory.conf (tuned to the 1.0 GiB memory limit)"; --json has the line too. */
export function describeOrigin(setting: SettingInForce, node: SettingsOfNode): string {
  const file = setting.file ?? setting.source;
  switch (setting.origin) {
    case "memory-limit":
      return `${file} (tuned to ${node.limits.memoryBytes === null ? "the host's memory: no memory limit" : `the ${formatBytes(node.limits.memoryBytes)} memory limit`})`;
    case "cpu-limit":
      return `${file} (tuned to ${node.limits.cpus === null ? "the host's CPUs: no CPU limit" : `the ${node.limits.cpus} CPU limit`})`;
    case "settings":
      return `${file} (${node.role === "primary" ? "primary.settings" : `primary.settings or replicas[${node.node}].settings`} in pgfort.yaml)`;
    case "conf.d":
      return `${file} (pgfort's default)`;
    case "alter-system":
      return `${file} (ALTER SYSTEM)`;
    case "default":
      return "PostgreSQL's built-in default";
    case "other":
      return setting.source;
  }
}

/** Per node; a node whose settings and their origins equal an earlier node's says so in one line. */
export function formatSettings(nodes: readonly SettingsOfNode[]): string[] {
  const lines: string[] = [];
  const shown: Array<{ node: string; key: string }> = [];
  for (const node of nodes) {
    if (!node.settings) {
      lines.push(`settings in force on ${node.node}: unknown (the server does not answer)`);
      continue;
    }
    const rows = node.settings.map((setting) => [setting.name, setting.value, `${describeOrigin(setting, node)}${setting.pendingRestart ? "; a changed value waits for a restart" : ""}`]);
    // The same values from the same files under the same limits; the wording for a replica's override differs, the fact does not.
    const key = JSON.stringify([node.limits, node.settings.map((entry) => [entry.name, entry.value, entry.file, entry.origin, entry.pendingRestart])]);
    const same = shown.find((earlier) => earlier.key === key);
    if (same) {
      lines.push(`settings in force on ${node.node}: as on ${same.node}`);
      continue;
    }
    shown.push({ node: node.node, key });
    lines.push(`settings in force on ${node.node}:`, ...formatTable(["SETTING", "VALUE", "SET BY"], rows).map((line) => `  ${line}`));
  }
  return lines;
}
