// `pgfort upgrade --to N | --rollback | --finalize` (issue 12): src/upgrade/.
import type { Command } from "commander";
import { ConfigError } from "../errors";
import { finalizeUpgrade, rollbackUpgrade } from "../upgrade/rollback";
import { upgradeCluster } from "../upgrade/run";
import { confirm } from "./confirm";
import { action } from "./context";

interface UpgradeFlags {
  to?: string;
  rollback?: boolean;
  finalize?: boolean;
  yes?: boolean;
}

export function registerUpgrade(program: Command): void {
  program
    .command("upgrade")
    .description("move the cluster to another PostgreSQL major (dump and reload into new volumes; the old ones kept), or roll back, or finalize")
    .option("--to <major>", "the major to move to: 17")
    .option("--rollback", "bring the old major back on its kept volumes (writes since the upgrade are lost)")
    .option("--finalize", "remove the old major's kept volumes")
    .option("--yes", "confirm without asking")
    .action(
      action<UpgradeFlags>(async ({ output, loadConfig, docker, signal }, flags) => {
        const modes = [flags.to !== undefined, Boolean(flags.rollback), Boolean(flags.finalize)].filter(Boolean).length;
        if (modes !== 1) throw new ConfigError("pgfort upgrade needs exactly one of --to MAJOR, --rollback, --finalize", "pgfort upgrade --to 17");
        const loaded = await loadConfig();
        const engine = await docker();
        const listener = { onInfo: (message: string) => output.info(message), onWarning: (message: string) => output.warn(message) };
        if (flags.rollback) {
          const state = loaded.major;
          await confirm(`roll cluster ${loaded.config.cluster} back to PostgreSQL ${state?.previous?.major ?? "?"}? Everything written since the upgrade${state?.upgradedAt ? ` (${state.upgradedAt})` : ""} is lost`, flags.yes);
          const result = await rollbackUpgrade(engine, loaded, listener);
          output.result(result, [`cluster ${result.cluster} runs PostgreSQL ${result.to} again; removed ${result.removedVolumes.length} volume(s) of ${result.from}`]);
          return;
        }
        if (flags.finalize) {
          await confirm(`remove the kept PostgreSQL ${loaded.major?.previous?.major ?? "?"} volumes of cluster ${loaded.config.cluster}? --rollback is impossible after this`, flags.yes);
          const result = await finalizeUpgrade(engine, loaded, listener);
          output.result(result, [`removed ${result.removedVolumes.length} volume(s) of PostgreSQL ${result.from}: ${result.removedVolumes.join(", ") || "none left"}`]);
          return;
        }
        const to = Number(flags.to);
        if (!Number.isInteger(to)) throw new ConfigError(`--to ${flags.to ?? ""} is not a major version`, "pgfort upgrade --to 17");
        await confirm(`upgrade cluster ${loaded.config.cluster} from PostgreSQL ${loaded.config.image.pgMajor} to ${to}? Writes stop while the data moves`, flags.yes);
        const result = await upgradeCluster(engine, loaded, { to, signal, ...listener });
        output.result(result, [
          `cluster ${result.cluster} runs PostgreSQL ${result.to} (${result.image}); it ran ${result.from}`,
          `downtime (writes stopped): ${(result.downtimeMs / 1000).toFixed(1)} s; ${result.rows.tables} tables, ${result.rows.rows} rows moved and counted equal`,
          `backups: ${result.backupBefore} (PostgreSQL ${result.from}, drill passed), ${result.backupAfter} (PostgreSQL ${result.to}, first full)`,
          ...(result.replicas.length ? [`replicas re-created on ${result.to}: ${result.replicas.join(", ")}`] : []),
          `kept for --rollback: ${result.keptVolumes.join(", ")}; pgfort upgrade --finalize removes them`,
          `set image.pgMajor: ${result.to} in your config (until then the state file .pgfort/${result.cluster}/major.json decides)`,
        ]);
      }),
    );
}
