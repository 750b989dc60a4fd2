// `pgfort up | down | status | config check|apply`.
import type { Command } from "commander";
import type { LoadedConfig } from "../config/load";
import { applyConfig, checkConfig, type ConfigReport } from "../cluster/config-apply";
import { down } from "../cluster/down";
import { planNode, primarySpec } from "../cluster/plan";
import type { BootstrapResult } from "../orchestrate/bootstrap";
import { describeWindow } from "../backup/pitr";
import { agentStatus, poolerStatus, runningNodes, type ServiceStatus, type ArchiveStatus } from "../cluster/status";
import { connectionInfo, readHostFacts } from "../cluster/up";
import { clusterStatus, type NodeStatus } from "../orchestrate/status";
import { upCluster } from "../orchestrate/up";
import { latestBackups, type LatestBackups } from "../backup/latest";
import { openTarget } from "../backup/targets/resolve";
import { readTopology } from "../cluster/topology";
import { planReplicaSpec } from "../replica/plan";
import { ConfigError, ContainerError } from "../errors";
import { formatSwarmService, swarmStatus, upSwarm } from "../swarm/up";
import { downSwarm } from "../swarm/down";
import { confirm } from "./confirm";
import { action } from "./context";
import { formatBytes } from "./output";
import { formatSettings, formatTable, formatUsageTable } from "./status-usage";
import { findLeftovers } from "../lifecycle/reaper";
import { mismatchWarning } from "../collation/versions";

/** What `up` restored for an empty primary (primary.bootstrap: restore-latest), and what is lost. */
export function formatBootstrap(bootstrap: BootstrapResult): string[] {
  const { reached } = bootstrap.recovery;
  return [
    `restored the primary from physical backup ${bootstrap.backupId}${bootstrap.verified ? "" : " (its drill had NOT passed)"} and ${bootstrap.recovery.walFiles} archived WAL file(s), on timeline ${bootstrap.recovery.timeline ?? "?"}`,
    `last transaction restored: ${reached.lastTransactionAt ?? "none after the backup"} (redo done at ${reached.redoDoneAt ?? "?"}); ${describeWindow(bootstrap.window)}`,
    `data-loss window: whatever was committed after ${reached.lastTransactionAt ?? bootstrap.window.to?.time ?? "the backup"} and not yet archived is gone`,
  ];
}

/** The primary's WAL archiving in one line: what was stored last, what waits, what failed. */
export function formatArchiveLine(archive: ArchiveStatus): string {
  if (archive.mode === "off") return "WAL archive: off (wal.archive: false): no point-in-time recovery";
  const waiting = `${archive.pendingFiles} WAL file(s) waiting (${archive.pendingFiles * 16} MiB)`;
  const last = archive.lastArchivedWal ? `last stored ${archive.lastArchivedWal} at ${archive.lastArchivedAt ?? "?"}` : "nothing stored yet";
  const failing = archive.lastFailedAt && (!archive.lastArchivedAt || archive.lastFailedAt > archive.lastArchivedAt);
  return `WAL archive: ${failing ? `FAILING since ${archive.lastFailedAt ?? "?"} (${archive.lastFailedWal ?? "?"}, ${archive.failedCount} failed attempts; the agent's log says why); ` : ""}${last}; ${waiting}`;
}

/** What the collation check of a changed image found: nothing, or what was rebuilt. */
export function describeCollation(collation: { mismatches: ReadonlyArray<{ database: string }>; reindexed: number } | undefined): string {
  if (!collation) return "";
  if (collation.mismatches.length === 0) return " (new image: collation versions match)";
  return ` (new image: rebuilt ${collation.reindexed} index(es) in ${collation.mismatches.map((mismatch) => mismatch.database).join(", ")}, collation versions refreshed)`;
}

/** PostgreSQL's collation-mismatch warnings, per node: text indexes there may be corrupt. */
export function formatCollationWarnings(nodes: ReadonlyArray<Pick<NodeStatus, "node" | "collation">>): string[] {
  return nodes.flatMap((node) => (node.collation ?? []).flatMap((mismatch) => mismatchWarning(mismatch).map((line) => `${node.node}: ${line}`)));
}

/** After `pgfort upgrade`: which major runs, what is kept for --rollback, and a config that says otherwise. */
export function formatMajorLines(loaded: Pick<LoadedConfig, "major" | "configuredMajor" | "config">): string[] {
  const state = loaded.major;
  if (!state) return [];
  const lines: string[] = [];
  if (state.previous) {
    const downtime = state.downtimeMs === undefined ? "" : `, writes stopped ${(state.downtimeMs / 1000).toFixed(1)} s`;
    lines.push(`PostgreSQL ${state.current.major}: upgraded from ${state.previous.major} at ${state.upgradedAt ?? "?"}${downtime}; the ${state.previous.major} volumes are kept (pgfort upgrade --rollback goes back, --finalize removes them)`);
  }
  if (loaded.configuredMajor !== undefined && loaded.configuredMajor !== state.current.major) {
    lines.push(`the config says image.pgMajor: ${loaded.configuredMajor}, the cluster runs ${state.current.major} (.pgfort/${loaded.config.cluster}/major.json): set image.pgMajor: ${state.current.major}`);
  }
  return lines;
}

export function registerCluster(program: Command): void {
  program
    .command("up")
    .description("create or update the cluster: network, volumes, secrets, conf.d, primary; wait until healthy")
    .option("--allow-unverified", "primary.bootstrap: restore-latest may restore a physical backup whose drill has not passed")
    .option("--reindex", "a new image sorts text by other collation rules than the primary's databases were indexed with: rebuild those indexes before it takes writes")
    .option("--engine <engine>", "docker (this engine's containers) or swarm (services of the swarm this engine manages); default: the config's engine")
    .action(
      action<{ allowUnverified?: boolean; reindex?: boolean; engine?: string }>(async ({ output, loadConfig, docker, signal }, options) => {
        if (options.engine !== undefined && options.engine !== "docker" && options.engine !== "swarm") {
          throw new ConfigError(`--engine ${options.engine} is not an engine`, "use --engine docker or --engine swarm");
        }
        const loaded = await loadConfig();
        const engine = await docker();
        if ((options.engine ?? loaded.config.engine) === "swarm") {
          const result = await upSwarm(engine, { ...loaded, config: { ...loaded.config, engine: "swarm" } }, { onInfo: (message) => output.info(message), onStep: (step) => output.progress(`building image [${step.step}/${step.total}] ${step.instruction.slice(0, 80)}`) });
          for (const warning of result.warnings) output.warn(warning);
          output.result({ cluster: loaded.config.cluster, engine: "swarm", ...result }, [
            ...result.services.map((service) => `${service.service}: ${service.outcome} on ${service.swarmNode}${service.replicas === 0 ? " (fenced: scaled to zero)" : ""}`),
            `image: ${result.image}`,
          ]);
          return;
        }
        const { nodes: results, agent, bootstrap, tls, pooler } = await upCluster(engine, loaded, {
          onInfo: (message) => output.info(message),
          onWarning: (message) => output.warn(message),
          onStep: (step) => output.progress(`building image [${step.step}/${step.total}] ${step.instruction.slice(0, 80)}`),
          allowUnverified: Boolean(options.allowUnverified),
          reindex: Boolean(options.reindex),
          signal,
        });
        const tlsWarnings = tls.missingNames.length ? [`tls.certDir's server.crt does not cover ${tls.missingNames.join(", ")}: clients and replicas connecting by those names fail verify-full; add them to its subjectAltName`] : [];
        for (const warning of [...results.flatMap((result) => result.warnings), ...agent.warnings, ...tlsWarnings, ...(pooler?.warnings ?? [])]) output.warn(warning);
        const connection = connectionInfo(loaded);
        output.result({ cluster: loaded.config.cluster, nodes: results, agent, connection, bootstrap, tls, pooler }, [
          ...formatMajorLines(loaded),
          ...(bootstrap ? formatBootstrap(bootstrap) : []),
          ...results.map((result) => `${result.container}: ${result.outcome}${describePending(result.config)}${describeCollation(result.collation)}`),
          ...(pooler ? [`${pooler.container}: ${pooler.outcome} (PgBouncer on ${connection.host}:${pooler.port}, ${loaded.config.pooler?.poolMode ?? ""} pooling)`] : []),
          `${agent.container}: ${agent.outcome} (${agent.url}/metrics and /healthz)`,
          "",
          `connect: host ${connection.host}, port ${connection.port}, user ${connection.user}`,
          `password file: ${connection.passwordFile}`,
          `TLS required (CA ${connection.caFile}; certificate valid until ${tls.notAfter.slice(0, 10)}${tls.reloaded.length ? `, now served by ${tls.reloaded.join(", ")} after a reload` : ""})`,
          `  ${connection.example}`,
          ...(pooler ? [`  through the pooler: the same with port=${pooler.port}`] : []),
        ]);
      }, { swarm: true }),
    );

  program
    .command("status")
    .description("containers, health, limits, connections, live usage, tuned settings in force")
    .action(
      action(async ({ output, loadConfig, docker }) => {
        const loaded = await loadConfig();
        const { config, stateDir } = loaded;
        if (config.engine === "swarm") {
          const services = await swarmStatus(await docker(), config.cluster, (await readTopology(stateDir)).primary);
          output.result({ cluster: config.cluster, engine: "swarm", services }, services.length ? services.map(formatSwarmService) : [`cluster ${config.cluster} has no services on the swarm (pgfort up)`]);
          return;
        }
        const nodes = await clusterStatus(await docker(), config.cluster, (await readTopology(stateDir)).primary);
        const target = openTarget(config.backups.target, loaded, { onWarning: (message) => output.warn(message) });
        const backups = await latestBackups(target, config.cluster);
        // What interrupted or killed runs left: the next backup, verify, restore or prune removes it.
        const leftovers = await findLeftovers(await docker(), { cluster: config.cluster, stateDir, target });
        const agent = await agentStatus(await docker(), config.cluster);
        const pooler = await poolerStatus(await docker(), config.cluster);
        output.result({ cluster: config.cluster, nodes, agent, pooler, backups, leftovers }, [
          ...(nodes.length ? formatStatusTable(nodes) : [`cluster ${config.cluster} has no containers (pgfort up)`]),
          formatAgentLine(agent),
          ...(pooler ? [`pooler ${pooler.container}: ${pooler.state}, health ${pooler.health}, ${pooler.restarts} restart(s)${pooler.port ? `, clients on ${pooler.port}` : ""}`] : config.pooler ? ["pooler: none yet (pgfort up creates it)"] : []),
          ...formatMajorLines(loaded),
          ...nodes.flatMap((node) => (node.role === "primary" && node.archive ? [formatArchiveLine(node.archive)] : [])),
          ...formatCollationWarnings(nodes),
          ...(nodes.length ? ["", ...formatUsageTable(nodes), "", ...formatSettings(nodes)] : []),
          "",
          ...formatLatestBackups(backups),
          ...(leftovers.length ? ["", `leftovers of interrupted runs (${leftovers.length}):`, ...leftovers.map((leftover) => `  ${leftover.kind} ${leftover.name}: ${leftover.reason}${leftover.removable ? "; the next backup run removes it" : ""}`)] : []),
        ]);
      }, { swarm: true }),
    );

  program
    .command("down")
    .description("stop and remove the cluster's containers and network")
    .option("--volumes", "also remove its volumes (all data) and generated secrets")
    .option("--yes", "confirm --volumes without asking")
    .action(
      action<{ volumes?: boolean; yes?: boolean }>(async ({ output, loadConfig, docker }, options) => {
        const loaded = await loadConfig();
        const { config, stateDir } = loaded;
        if (options.volumes) await confirm(`delete all data of cluster ${config.cluster} (its volumes)?`, options.yes);
        if (config.engine === "swarm") {
          const removed = await downSwarm(await docker(), loaded, { volumes: Boolean(options.volumes) });
          output.result(removed, [
            `removed ${removed.services.length} service(s), ${removed.secrets} secret(s), ${removed.configs} config(s), ${removed.networks.length} network(s) from the swarm`,
            ...(removed.volumes
              ? [`volumes removed on ${removed.volumes.nodes.join(", ")}:`, removed.volumes.log, ...(removed.volumes.nodesDown.length ? [`nodes down, their volumes stay: ${removed.volumes.nodesDown.join(", ")} (run pgfort down --volumes again when they are back)`] : [])]
              : ["the volumes stay on their nodes (pgfort down --volumes removes them)"]),
          ]);
          return;
        }
        const removed = await down(await docker(), config.cluster, stateDir, { volumes: Boolean(options.volumes) });
        output.result(removed, [
          `removed ${removed.containers.length} container(s), ${removed.networks.length} network(s), ${removed.volumes.length} volume(s)`,
        ]);
      }, { swarm: true }),
    );

  const configCommand = program.command("config").description("render conf.d and apply it to the running server");
  for (const mode of ["check", "apply"] as const) {
    configCommand
      .command(mode)
      .description(mode === "check" ? "show what apply would change" : "write conf.d, validate in the server, reload (or roll back)")
      .option("--restart", "restart the server when a changed setting needs it (apply only)")
      .action(
        action<{ restart?: boolean }>(async ({ output, loadConfig, docker }, options) => {
          const loaded = await loadConfig();
          const engine = await docker();
          const facts = await readHostFacts(engine, loaded);
          const topology = await readTopology(loaded.stateDir);
          // Every node the cluster has, primary first: replicas render the same settings.
          const nodes = await runningNodes(engine, loaded.config.cluster, topology.primary);
          if (mode === "apply" && nodes.length === 0) {
            throw new ContainerError(`cluster ${loaded.config.cluster} has no running server`, "run pgfort up first");
          }
          const reports: ConfigReport[] = [];
          for (const node of nodes.length ? nodes : ["primary"]) {
            const spec = node === "primary" ? primarySpec(loaded.config) : planReplicaSpec(loaded.config, node, topology.primary);
            const plan = planNode(loaded.config, loaded.stateDir, facts, spec);
            reports.push(mode === "check" ? await checkConfig(plan) : await applyConfig(engine, plan, { restart: Boolean(options.restart) }));
          }
          output.result(reports, reports.flatMap((report) => formatConfigReport(report, mode)));
        }),
      );
  }
}

function formatAgentLine(agent: ServiceStatus | null): string {
  if (!agent) return "agent: none (pgfort up creates it)";
  return `agent ${agent.container}: ${agent.state}, health ${agent.health}, ${agent.restarts} restart(s)${agent.port ? `, http://${agent.port}/healthz` : ""}`;
}

function describePending(report: ConfigReport | undefined): string {
  if (!report?.applied) return "";
  const pending = report.pendingRestart.length ? `; needs a restart for ${report.pendingRestart.join(", ")}` : "";
  return ` (conf.d reloaded${pending})`;
}

function formatConfigReport(report: ConfigReport, mode: "check" | "apply"): string[] {
  if (report.files.length === 0) return [`${report.node}: conf.d is up to date`];
  const lines = report.settings.map((change) => `  ${change.name}: ${change.from ?? "(unset)"} -> ${change.to ?? "(unset)"}`);
  const files = report.files.map((file) => `${file.file} ${file.change}`).join(", ");
  if (mode === "check") return [`${report.node}: apply would change ${files}`, ...lines];
  return [
    `${report.node}: applied ${files}${report.restarted ? "; restarted" : "; reloaded"}`,
    ...lines,
    ...(report.pendingRestart.length
      ? [`needs a restart to take effect: ${report.pendingRestart.join(", ")} (run pgfort config apply --restart)`]
      : []),
  ];
}

export function formatStatusTable(nodes: NodeStatus[]): string[] {
  const rows = nodes.map((node) => [
    node.container,
    node.role,
    node.state,
    node.health,
    node.uptimeSeconds === null ? "-" : formatDuration(node.uptimeSeconds),
    node.limits.memoryBytes === null ? "-" : formatBytes(node.limits.memoryBytes),
    node.limits.cpus === null ? "-" : String(node.limits.cpus),
    node.limits.pids === null ? "-" : String(node.limits.pids),
    node.connections === null ? "-" : String(node.connections),
    node.port ?? "-",
    node.replication ? `${node.replication.state ?? "disconnected"} ${formatLag(node.replication)}` : "-",
    node.replication?.walRetainedBytes == null ? "-" : formatBytes(node.replication.walRetainedBytes),
  ]);
  return formatTable(["CONTAINER", "ROLE", "STATE", "HEALTH", "UPTIME", "MEMORY", "CPUS", "PIDS", "CONNS", "PORT", "REPLICATION", "SLOT WAL"], rows);
}

function formatLatestBackups(backups: LatestBackups): string[] {
  if (backups.error) return [`backups (${backups.target}): cannot read the target: ${backups.error}`];
  const line = (kind: string, latest: LatestBackups["logical"]) =>
    `last ${kind} backup: ${latest ? `${latest.id} (${latest.createdAt})${latest.verified ? `, verify ${latest.verified}` : ", not verified"}` : "none"}`;
  return [`backups in ${backups.target}:`, `  ${line("logical", backups.logical)}`, `  ${line("physical", backups.physical)}`];
}

function formatLag(progress: NonNullable<NodeStatus["replication"]>): string {
  const bytes = progress.lagBytes === null ? "?" : formatBytes(progress.lagBytes);
  const seconds = progress.lagSeconds === null ? "?" : `${progress.lagSeconds.toFixed(1)}s`;
  return `lag ${bytes} / ${seconds}`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}
