// `pgfort agent`: what the <cluster>-agent container runs (CMD ["agent"]). Reads its config from the
// secrets volume, runs the schedule with the in-image job engine, serves /metrics and /healthz, and
// on SIGTERM (`docker stop`) lets a running job finish within the stop timeout.
import path from "node:path";
import type { Command } from "commander";
import { loadAgentContext } from "../agent/context";
import { AGENT_DEFAULT_PORT } from "../agent/contract";
import { startAgent } from "../agent/main";
import { openTarget } from "../backup/targets/resolve";
import { AGENT_JOB_STOP_TIMEOUT_SECONDS } from "../cluster/agent-container";
import { ConfigError } from "../errors";
import { runJobInAgent } from "../jobs/in-agent";
import { createDatabaseMetrics, clusterNetworkServers, DEFAULT_SCRAPE_TIMEOUT_MS } from "../metrics/database-metrics";
import { createPoolerMetrics } from "../metrics/pooler-metrics";
import { POOLER_PORT, poolerSocketDir } from "../pooler/plan";
import { SECRETS, SECRETS_DIR, SOCKETS_DIR } from "../cluster/secrets";
import { Notifier } from "../notify/notifier";
import { WalArchiver } from "../wal/archiver";
import { nextStopSignal } from "../schedule/loop";
import { action } from "./context";
import { startJobServer } from "./job-server";

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("the agent's loop, run by the <cluster>-agent container: schedules, /metrics and /healthz (pgfort up starts it)")
    .option("--config-file <file>", "the agent's config file", undefined)
    .option("--host <address>", "address of /metrics and /healthz", "0.0.0.0")
    .option("--port <port>", "port of /metrics and /healthz", String(AGENT_DEFAULT_PORT))
    .option("--stop-timeout <seconds>", "on SIGTERM, wait this long for a running job", String(AGENT_JOB_STOP_TIMEOUT_SECONDS))
    .action(
      action<{ configFile?: string; host: string; port: string; stopTimeout: string }>(async ({ output }, options) => {
        const port = Number(options.port);
        const stopTimeoutMs = Number(options.stopTimeout) * 1000;
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port ${options.port} is not a port`, "use 0-65535");
        if (!Number.isFinite(stopTimeoutMs) || stopTimeoutMs < 0) throw new ConfigError(`--stop-timeout ${options.stopTimeout} is not a number of seconds`, "e.g. --stop-timeout 45");
        const reloadContext = () => loadAgentContext(...(options.configFile ? [options.configFile] : []));
        const context = await reloadContext();
        const target = openTarget(context.loaded.config.backups.target, context.loaded, { onWarning: (message) => output.warn(message) });
        const { cluster } = context.loaded.config;
        // The servers as the agent started with them: a replica added later is scraped after the agent's next start.
        const database = createDatabaseMetrics({
          servers: clusterNetworkServers(cluster, context.agent.servers),
          passwordFile: path.join(SECRETS_DIR, SECRETS.superuser.name),
          backups: { target, cluster },
        });
        const { wal, backups, notify } = context.loaded.config;
        // The pooler's pools (issue 13), over its socket in the socket volume.
        const pooler = context.loaded.config.pooler
          ? createPoolerMetrics({ socketDir: poolerSocketDir(cluster), port: POOLER_PORT, timeoutMs: DEFAULT_SCRAPE_TIMEOUT_MS })
          : undefined;
        // WAL archiving (issue 11): the servers' archive_command hands files over in the socket volume.
        const archiver = wal.archive
          ? new WalArchiver({
              cluster,
              target,
              socketsDir: SOCKETS_DIR,
              compression: { method: backups.compression, level: backups.compressionLevel, recipients: backups.encryption?.recipients },
              maxPendingBytes: wal.maxPending,
              notifier: new Notifier(notify, cluster, ({ message }) => output.warn(message)),
              log: output,
            })
          : undefined;
        archiver?.start();
        const loop = await startAgent({
          context,
          target,
          runJob: runJobInAgent,
          reloadContext,
          registries: [database.registry, ...(archiver ? [archiver.registry] : []), ...(pooler ? [pooler.registry] : [])],
          ...(archiver ? { extraHealth: () => [archiver.health()] } : {}),
          host: options.host,
          port,
          log: output,
        });
        if (archiver) output.info(`archiving WAL into ${target.url} (wal.maxPending ${wal.maxPending} bytes)`);
        const jobs = await startJobServer(output);
        const signal = await nextStopSignal();
        output.info(`${signal}: no new runs; waiting up to ${stopTimeoutMs / 1000} s for running jobs`);
        // The host's jobs are aborted (they clean up and tell the host); scheduled ones may finish.
        const [finished] = await Promise.all([loop.stop(stopTimeoutMs, signal), jobs.close(), archiver?.stop()]);
        await database.close();
        output.result({ stopped: true, jobsFinished: finished }, finished ? "stopped" : "stopped with a job still running (it was abandoned)");
        if (!finished) process.exitCode = 1;
      }, { ownSignals: true }),
    );
}
