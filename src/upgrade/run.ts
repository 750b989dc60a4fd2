// `pgfort upgrade --to N` (issue 12): a running cluster moved to a new PostgreSQL major by dump and
// reload, the safe way across base images (every index is rebuilt under the new C library):
//   pre-check: the old primary healthy, the new image's server started on new volumes (private:
//     no network) and asked for the extensions the old databases use, disk space, the target
//   a verified physical backup of the old major
//   downtime: the agent, the replicas and the primary stopped (writes stop: nothing can connect);
//     the old data opened by a private server of the old image, moved with the new major's
//     pg_dumpall, row counts compared table by table, statistics rebuilt; the new WAL started past
//     the old one on a new timeline; the new server started as <cluster>-primary with its port
//   the replicas re-created from the new primary, the agent on the new image, a first full backup.
// The old volumes are kept (--rollback, until --finalize). Any failure before the new primary is
// healthy removes what the upgrade made and brings the old major back as it was.
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels } from "../docker/labels";
import { agentContainerName, containerName, nodeVolumes } from "../docker/names";
import { runThrowaway } from "../docker/throwaway";
import { ownerLabels } from "../lifecycle/owner";
import { writeMajorState, type MajorState } from "../config/major-state";
import { DATA_DIR, HARDENING, planNode, primarySpec, WAL_MOUNT, type HostFacts } from "../cluster/plan";
import { SOCKETS_DIR } from "../cluster/secrets";
import { queryRows, runSql, USER_DATABASES_QUERY } from "../cluster/sql";
import { readTopology } from "../cluster/topology";
import { prepareHostFacts, upNode } from "../cluster/up";
import { upAgent } from "../cluster/agent";
import { addReplica } from "../replica/add";
import { replicationRows } from "../replica/replication";
import { slotName } from "../replica/plan";
import { planImageBuild } from "../image/plan";
import { handOffBackup, handOffVerify } from "../handoff/backup";
import { ROW_COUNT_QUERY } from "../backup/plan";
import { openTarget } from "../backup/targets/resolve";
import { listBackups } from "../backup/catalog";
import { UpgradeError } from "../errors";
import { upCluster } from "../orchestrate/up";
import { VERSION } from "../version";
import { z } from "zod";
import { planPrivateServer, PRIVATE_CONF_FILE, startPrivateServer } from "../cluster/private-server";
import { checkUpgradeRequest, compareMovedRows, evaluatePrecheck, nextWalStart, upgradeConf } from "./plan";

export interface UpgradeListener {
  onInfo?(message: string): void;
  onWarning?(message: string): void;
}

export interface UpgradeResult {
  cluster: string;
  from: number;
  to: number;
  image: string;
  /** The verified physical backup of the old major taken first. */
  backupBefore: string;
  /** Writes stopped to the new primary healthy. */
  downtimeMs: number;
  rows: { tables: number; rows: number };
  replicas: string[];
  /** The new major's first full physical backup. */
  backupAfter: string;
  walStart: string;
  keptVolumes: string[];
}

export async function upgradeCluster(docker: DockerClient, loaded: LoadedConfig, options: { to: number; signal?: AbortSignal | undefined } & UpgradeListener): Promise<UpgradeResult> {
  const { config, stateDir } = loaded;
  const { cluster } = config;
  const { signal } = options;
  const info = (message: string) => options.onInfo?.(message);
  const from = config.image.pgMajor;
  const { volumeSuffix } = checkUpgradeRequest({ currentMajor: from, to: options.to, state: loaded.major, topology: await readTopology(stateDir) });
  const targetImage = planImageBuild(config.image, { pgMajor: options.to, noCache: false }, VERSION);
  const next: LoadedConfig = { ...loaded, config: { ...config, image: { ...config.image, pgMajor: options.to, tag: targetImage.tag, base: targetImage.base, volumeSuffix } } };
  const primary = containerName(cluster, "primary");
  const oldVolumes = ["primary", ...config.replicas.map((replica) => replica.name)].flatMap((node) => Object.values(nodeVolumes(cluster, node, config.image.volumeSuffix)));
  const newPrimaryVolumes = nodeVolumes(cluster, "primary", volumeSuffix);

  // --- pre-check: nothing of the running cluster is touched yet -------------------------------
  const running = await docker.inspectContainerIfExists(primary);
  if (!running?.State.Running || running.State.Health?.Status !== "healthy") {
    throw new UpgradeError(`the primary ${primary} is not running and healthy`, "pgfort up, then pgfort upgrade again");
  }
  const target = openTarget(config.backups.target, loaded, { onWarning: (message) => options.onWarning?.(message) });
  await listBackups(target, cluster).catch((error: unknown) => {
    throw new UpgradeError(`the backup target ${config.backups.target} cannot be read: ${error instanceof Error ? error.message : String(error)}`, "an upgrade starts with a verified backup: fix backups.target (or its credentials) first", { cause: error });
  });
  await removeLeftovers(docker, loaded, volumeSuffix, info);
  info(`image ${targetImage.tag} (PostgreSQL ${options.to} on ${targetImage.base})`);
  const nextFacts = await prepareHostFacts(docker, next, { onInfo: info });
  const oldFacts = await prepareHostFacts(docker, loaded, { onInfo: info });

  const incoming = privateServer(next, nextFacts, `${cluster}-upgrade-incoming`, "incoming");
  const source = privateServer(loaded, oldFacts, `${cluster}-upgrade-source`, "source");
  let oldStopped = false;
  let recorded = false;
  let downtimeStarted = 0;
  const undo = async () => {
    await docker.removeContainer(incoming.name).catch(() => undefined);
    await docker.removeContainer(source.name).catch(() => undefined);
    // Once the old primary is stopped (and removed), a container of that name is the new one.
    if (oldStopped) await docker.removeContainer(primary).catch(() => undefined);
    for (const volume of Object.values(newPrimaryVolumes)) await docker.removeVolume(volume).catch(() => undefined);
    await rm(incoming.stateDir, { recursive: true, force: true });
    await rm(source.stateDir, { recursive: true, force: true });
    await rm(path.join(stateDir, `primary${volumeSuffix}`), { recursive: true, force: true });
  };
  try {
    const labels = clusterLabels(cluster, "primary", "primary");
    for (const volume of Object.values(newPrimaryVolumes)) await docker.ensureVolume(volume, labels);
    info(`starting PostgreSQL ${options.to} on new volumes ${Object.values(newPrimaryVolumes).join(", ")} (private: no network)`);
    await incoming.start(docker);
    signal?.throwIfAborted();
    const facts = await precheckFacts(docker, primary, incoming.name, config.replicas.map((replica) => replica.name), cluster);
    const precheck = evaluatePrecheck({ ...facts, currentMajor: from });
    for (const note of precheck.notes) info(note);
    if (precheck.problems.length > 0) {
      throw new UpgradeError(`the upgrade to PostgreSQL ${options.to} cannot start: ${precheck.problems.join("; ")}`, "fix what is named; nothing was changed on the running cluster");
    }
    info(`pre-check passed: extensions available, ${Math.round(facts.freeBytes / 1024 ** 2)} MiB free (about ${Math.round(precheck.neededBytes / 1024 ** 2)} MiB needed), target reachable`);

    // --- a verified backup of the old major ----------------------------------------------------
    info("taking a physical backup of the old major, then its restore drill");
    const before = await handOffBackup(docker, loaded, { kind: "physical", signal, onInfo: info });
    const drill = await handOffVerify(docker, loaded, { id: before.id, signal, onInfo: info });
    if (drill.verdict.status !== "passed") throw new UpgradeError(`the drill of backup ${before.id} failed`, "pgfort backup verify says why; the upgrade starts only from a backup that restores");
    info(`backup ${before.id}: drill passed`);
    signal?.throwIfAborted();

    // --- downtime: writes stop here --------------------------------------------------------------
    downtimeStarted = Date.now();
    info("writes stop now: stopping the agent, the replicas and the primary");
    await docker.stopContainer(agentContainerName(cluster), 60);
    for (const replica of config.replicas) await docker.stopContainer(containerName(cluster, replica.name), 60);
    await docker.stopContainer(primary, 60);
    oldStopped = true;
    for (const replica of config.replicas) await docker.removeContainer(containerName(cluster, replica.name));
    await docker.removeContainer(primary);
    await source.start(docker);
    const [position] = await queryRows(docker, source.name, "SELECT pg_current_wal_lsn()::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint())::int AS timeline", PositionRow);
    if (!position) throw new UpgradeError("the old server did not say its WAL position", "run the upgrade again");
    info(`moving the data: pg_dumpall (PostgreSQL ${options.to}) from the old server into the new one`);
    // Ctrl-C during the move: the new server goes, and the move's processes in it with it.
    const stopMove = () => void docker.removeContainer(incoming.name).catch(() => undefined);
    signal?.addEventListener("abort", stopMove, { once: true });
    const moved = await docker
      .exec(incoming.name, ["pgfort-job", "upgrade-move"], {
        env: [`PGFORT_SOURCE_HOST=${SOCKETS_DIR}/${source.name}`, "PGFORT_PGHOST=/var/run/postgresql", "PGFORT_PGUSER=postgres"],
      })
      .finally(() => signal?.removeEventListener("abort", stopMove));
    signal?.throwIfAborted();
    if (moved.exitCode !== 0) {
      const errors = moved.stderr.split("\n").filter((line) => line.startsWith("psql: ") || line.startsWith("pg_dumpall") || line.startsWith("pgfort:"));
      throw new UpgradeError(`moving the data failed: ${(errors.length ? errors : moved.stderr.trim().split("\n").slice(-5)).join("; ")}`, "the old major comes back as it was; fix what is named and run the upgrade again");
    }
    signal?.throwIfAborted();
    const rows = compareMovedRows(await rowCounts(docker, source.name), await rowCounts(docker, incoming.name));
    if (!rows.ok) throw new UpgradeError(`the moved data differs from the old server's: ${rows.differences.slice(0, 10).join("; ")}`, "the old major comes back as it was; report this with the names above");
    info(`row counts equal: ${rows.tables} tables, ${rows.rows} rows`);
    info("rebuilding the planner's statistics (vacuumdb --analyze-only)");
    const analyzed = await docker.exec(incoming.name, ["vacuumdb", "--all", "--analyze-only", "--jobs", "2", "--quiet"]);
    if (analyzed.exitCode !== 0) throw new UpgradeError(`vacuumdb --analyze-only failed: ${analyzed.stderr.trim()}`, "the old major comes back as it was; run the upgrade again");
    await docker.stopContainer(incoming.name, 120);
    await docker.removeContainer(incoming.name);
    await docker.stopContainer(source.name, 60);
    await docker.removeContainer(source.name);
    const walStart = nextWalStart(position, loaded.major?.highestTimeline ?? 1, from);
    await resetWal(docker, next, newPrimaryVolumes, walStart, signal);
    info(`the new WAL starts at ${walStart.walFile} (timeline ${walStart.timeline}: no name the archive holds)`);
    signal?.throwIfAborted();
    await upNode(docker, next, nextFacts, primarySpec(next.config), "primary.resources");
    const downtimeMs = Date.now() - downtimeStarted;
    const state: MajorState = {
      current: { major: options.to, tag: targetImage.tag, volumeSuffix },
      previous: { major: from, tag: config.image.tag, volumeSuffix: config.image.volumeSuffix, volumes: oldVolumes },
      upgradedAt: new Date().toISOString(),
      downtimeMs,
      highestTimeline: walStart.timeline,
    };
    await writeMajorState(stateDir, state);
    recorded = true;
    await rm(incoming.stateDir, { recursive: true, force: true });
    await rm(source.stateDir, { recursive: true, force: true });
    info(`${primary} runs PostgreSQL ${options.to}: writes were stopped for ${(downtimeMs / 1000).toFixed(1)} s`);

    // --- after: replicas, agent, a first backup of the new major -------------------------------
    const upgraded: LoadedConfig = { ...next, major: state };
    const replicas: string[] = [];
    const after = await finishUpgrade(options.to, from, async () => {
      for (const replica of config.replicas) {
        info(`re-creating replica ${containerName(cluster, replica.name)} from the new primary`);
        await addReplica(docker, upgraded, nextFacts, replica.name, { existingIsError: false, onInfo: info });
        replicas.push(replica.name);
      }
      info(`starting ${agentContainerName(cluster)} on ${targetImage.tag}`);
      await upAgent(docker, upgraded);
      info("taking the new major's first full physical backup");
      return handOffBackup(docker, upgraded, { kind: "physical", signal, onInfo: info });
    });
    return {
      cluster,
      from,
      to: options.to,
      image: targetImage.tag,
      backupBefore: before.id,
      downtimeMs,
      rows: { tables: rows.tables, rows: rows.rows },
      replicas,
      backupAfter: after.id,
      walStart: walStart.walFile,
      keptVolumes: oldVolumes,
    };
  } catch (error) {
    if (!recorded) {
      await undo();
      if (oldStopped) {
        info(`bringing PostgreSQL ${from} back (writes were stopped for ${((Date.now() - downtimeStarted) / 1000).toFixed(1)} s)`);
        await upCluster(docker, loaded, { onInfo: info }).catch((restartError: unknown) => {
          options.onWarning?.(`the old major did not come back by itself: ${restartError instanceof Error ? restartError.message : String(restartError)}; run pgfort up`);
        });
      }
    }
    throw signal?.aborted ? signal.reason : error;
  }
}

const PositionRow = z.object({ lsn: z.string(), timeline: z.number() });

/** After the new primary took over: a failure is the replicas', the agent's or the backup's, and says the upgrade itself is done. */
async function finishUpgrade<T>(to: number, from: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof Error)) throw error; // an abort is rethrown as its reason by the caller
    const hint = (error as { hint?: string }).hint;
    throw new UpgradeError(
      `the primary runs PostgreSQL ${to} (the upgrade is done), but what follows it failed: ${error.message}`,
      `${hint ? `${hint}; then ` : ""}pgfort up re-creates the replicas and the agent; pgfort upgrade --rollback goes back to ${from}`,
      { cause: error },
    );
  }
}

interface PrivateServer {
  name: string;
  stateDir: string;
  start(docker: DockerClient): Promise<void>;
}

/**
 * A private server of the move on a generation's primary volumes: the node's own container spec
 * (image, volumes, limits, hardening, secrets, sockets) with another name, no network, and its
 * conf.d plus zz-private.conf, in a directory of its own.
 */
function privateServer(loaded: LoadedConfig, facts: HostFacts, name: string, role: "source" | "incoming"): PrivateServer {
  const plan = planNode(loaded.config, loaded.stateDir, facts, { ...primarySpec(loaded.config), port: undefined });
  const stateDir = path.join(loaded.stateDir, "upgrade", role);
  const confDir = path.join(stateDir, "conf.d");
  const create = planPrivateServer(plan, { name, confDir, labels: { ...clusterLabels(loaded.config.cluster, "restore", `upgrade-${role}`), ...ownerLabels() } });
  return {
    name,
    stateDir,
    async start(docker) {
      await mkdir(stateDir, { recursive: true, mode: 0o755 });
      await startPrivateServer(docker, create, confDir, new Map([...plan.confD, [PRIVATE_CONF_FILE, upgradeConf(role)]]));
    },
  };
}

const NameRow = z.object({ name: z.string() });
const DatabaseRow = z.object({ datname: z.string() });
const ExtensionRow = z.object({ extension: z.string() });
const SizeRow = z.object({ bytes: z.coerce.number() });

async function precheckFacts(docker: DockerClient, primary: string, incoming: string, replicas: readonly string[], cluster: string) {
  const sourceVersionNum = Number(await runSql(docker, primary, "SHOW server_version_num"));
  const databases = (await queryRows(docker, primary, USER_DATABASES_QUERY, DatabaseRow)).map((row) => row.datname);
  const installed: Array<{ database: string; extension: string }> = [];
  for (const database of [...databases, "template1"]) {
    for (const row of await queryRows(docker, primary, "SELECT extname AS extension FROM pg_extension WHERE extname <> 'plpgsql'", ExtensionRow, database)) {
      installed.push({ database, extension: row.extension });
    }
  }
  const available = new Set((await queryRows(docker, incoming, "SELECT name FROM pg_available_extensions", NameRow)).map((row) => row.name));
  const [size] = await queryRows(docker, primary, "SELECT sum(pg_database_size(oid))::bigint AS bytes FROM pg_database", SizeRow);
  // The new volumes go where the old ones are: the engine's volume directory.
  const df = await docker.exec(incoming, ["df", "-B1", "--output=avail", DATA_DIR]);
  const freeBytes = Number(df.stdout.trim().split("\n").at(-1));
  const streaming = new Set((await replicationRows(docker, primary).catch(() => [])).filter((row) => row.state === "streaming").map((row) => row.slot));
  return {
    sourceVersionNum,
    installed,
    available,
    freeBytes: Number.isFinite(freeBytes) ? freeBytes : 0,
    databaseBytes: size?.bytes ?? 0,
    replicas: replicas.map((name) => ({ name: containerName(cluster, name), streaming: streaming.has(slotName(name)) })),
  };
}

/** Every table's rows in every database that takes connections, as JSON from the server itself. */
async function rowCounts(docker: DockerClient, container: string): Promise<Record<string, Record<string, number>>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const { datname } of await queryRows(docker, container, USER_DATABASES_QUERY, DatabaseRow)) {
    counts[datname] = z.record(z.string(), z.number()).parse(JSON.parse(await runSql(docker, container, ROW_COUNT_QUERY, datname)));
  }
  return counts;
}

/** pg_resetwal in a throwaway container of the new image on the new volumes (the server stopped cleanly). */
async function resetWal(docker: DockerClient, next: LoadedConfig, volumes: { data: string; wal: string }, start: { walFile: string; history: string }, signal: AbortSignal | undefined): Promise<void> {
  const { cluster } = next.config;
  const result = await runThrowaway(docker, {
    create: {
      name: `${cluster}-upgrade-reset-wal`,
      Image: next.config.image.tag,
      User: "999:999",
      Entrypoint: ["pgfort-job"],
      Cmd: ["reset-wal"],
      Env: [`PGFORT_DATA_DIR=${DATA_DIR}`, `PGFORT_NEXT_WAL_FILE=${start.walFile}`, `PGFORT_TIMELINE_HISTORY=${start.history}`],
      Labels: clusterLabels(cluster, "restore", "upgrade-reset-wal"),
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        ...HARDENING,
        RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
        NetworkMode: "none",
        Mounts: [
          { Type: "volume", Source: volumes.data, Target: DATA_DIR },
          { Type: "volume", Source: volumes.wal, Target: WAL_MOUNT },
        ],
      },
    },
    signal,
  });
  if (result.exitCode !== 0) throw new UpgradeError(`pg_resetwal on the new server failed: ${result.stderr.lastLines(5)}`, "the old major comes back as it was; run the upgrade again");
}

/**
 * What an upgrade killed before its end left: the new generation's primary volumes with no state
 * naming them, the private servers. They hold nothing the old server lacks.
 */
async function removeLeftovers(docker: DockerClient, loaded: LoadedConfig, volumeSuffix: string, info: (message: string) => void): Promise<void> {
  const { cluster } = loaded.config;
  for (const name of [`${cluster}-upgrade-incoming`, `${cluster}-upgrade-source`, `${cluster}-upgrade-reset-wal`]) {
    if (await docker.containerExists(name)) {
      info(`removing ${name}, left by an interrupted upgrade`);
      await docker.removeContainer(name);
    }
  }
  for (const volume of Object.values(nodeVolumes(cluster, "primary", volumeSuffix))) {
    if (await docker.volumeExists(volume)) {
      info(`removing volume ${volume}, left by an interrupted upgrade`);
      await docker.removeVolume(volume);
    }
  }
}
