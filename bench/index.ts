// npm run bench: backup throughput of pgfort against the raw tools and pgBackRest, measured in one
// run on one pgbench database (scale 100, about 1.5 GB), with pgfort's peak RSS; then incremental
// physical backups (PostgreSQL 17) after 1% of the rows changed, against the full and pgBackRest's incr.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config/load";
import { upCluster } from "../src/orchestrate/up";
import { down } from "../src/cluster/down";
import { runSql } from "../src/cluster/sql";
import { SECRETS } from "../src/cluster/plan";
import { readSecret } from "../src/cluster/state";
import { DockerClient } from "../src/docker/client";
import { handOffBackup, handOffVerify, type BackupHandOff } from "../src/handoff/backup";
import type { LoadedConfig } from "../src/config/load";
import { ensureReplicationRole } from "../src/replica/replication";
import { buildPeerImage } from "./peer-image";
import { timed } from "./timed";
import { dockerExecToFile, dockerExecToS3, IMAGE, log, measure, REPEATS, results, startS3, type Result } from "./harness";
import { PGBENCH_SUMS_QUERY, pgbenchSumsAgree } from "../test/integration/pgbench";
import { ARCHIVE_COMMAND_PATH } from "../src/cluster/archive-settings";

const SCALE = Number(process.env["PGFORT_BENCH_SCALE"] ?? 100);
const SMALL_SCALE = Math.max(1, Math.round(SCALE / 10));
const ZSTD = "zstd -q -c -3 -T2";
const CLI = path.join(__dirname, "..", "src", "cli", "index.js");

/**
 * The newest incremental's chain, drilled (sha256 of every file, pg_combinebackup, pg_verifybackup,
 * pg_amcheck) and restored as a server with `pgfort restore`, as a user would, where pgbench's
 * balance invariants are checked.
 */
async function drillChain(docker: DockerClient, loaded: LoadedConfig, workspace: string, id: string) {
  log(`drill of the incremental chain ending at ${id}`);
  const started = process.hrtime.bigint();
  const { verdict: drill } = await handOffVerify(docker, loaded, { id });
  const drillSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  log(`drill ${drill.status} in ${drillSeconds.toFixed(1)} s`);
  const restored = await timed(process.execPath, [CLI, "restore", id, "--as", "chain", "--yes"], workspace);
  const restoreSeconds = restored.seconds;
  const links = Number(/incremental chain of (\d+) backups/.exec(restored.stderr)?.[1] ?? 1);
  const sums = await runSql(docker, `${loaded.config.cluster}-chain`, PGBENCH_SUMS_QUERY, "app");
  const invariants = pgbenchSumsAgree(sums) ? `hold (${sums})` : `BROKEN (${sums})`;
  return { links, drill, drillSeconds, restoreSeconds, invariants };
}

/** A drill's checks in one line: the sha256 checks (one per file of every link) counted, the rest named. */
function summarizeChecks(checks: ReadonlyArray<{ name: string; ok: boolean }>): string {
  const hashes = checks.filter((check) => check.name.startsWith("sha256 "));
  const failed = (list: ReadonlyArray<{ ok: boolean }>) => list.filter((check) => !check.ok).length;
  const others = checks.filter((check) => !check.name.startsWith("sha256 ")).map((check) => `${check.ok ? "ok" : "FAILED"} ${check.name}`);
  return [`sha256 of ${hashes.length} files: ${failed(hashes) === 0 ? "ok" : `${failed(hashes)} FAILED`}`, ...others].join(", ");
}

async function main(): Promise<void> {
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";
  const workspace = await mkdtemp(path.join(os.tmpdir(), "pgfort-bench-"));
  const docker = await DockerClient.connect();
  const engine = await docker.engineInfo();
  const cluster = "pgfortbench";
  const primary = `${cluster}-primary`;
  const repo = "/var/lib/postgresql/wal/pgbackrest";
  const pgbackrest = `pgbackrest --stanza=main --pg1-path=/var/lib/postgresql/data --repo1-path=${repo} --lock-path=/tmp --log-path=/tmp --log-level-file=off --log-level-console=warn`;
  const configFile = path.join(workspace, "pgfort.yaml");
  const configLines = (target: string) => [
    `cluster: ${cluster}`,
    `image: { tag: ${IMAGE}-bench }`,
    "primary:",
    "  port: 55499",
    "  resources: { memory: 4g, cpus: 2 }",
    // pgBackRest needs WAL archiving too (its repo sits on the WAL volume, writable by postgres):
    // after pgfort's own archive_command, so both archives get every file.
    `  settings: { archive_mode: "on", archive_command: "${ARCHIVE_COMMAND_PATH} %p %f ${2 * 1024 ** 3} && ${pgbackrest} archive-push %p", max_wal_size: 4GB }`,
    `backups: { target: "${target}", compression: zstd, compressionLevel: 3, resources: { memory: 512m, cpus: 2 } }`,
  ];
  await writeFile(configFile, configLines("file://./backups").join("\n"));
  const loaded = await loadConfig(undefined, workspace);
  const s3 = await startS3(await mkdtemp(path.join(os.tmpdir(), "pgfort-bench-s3-")));
  try {
    log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Docker ${engine.serverVersion}, ${os.release()}`);
    log(`building the bench image (${IMAGE} + pgbackrest)`);
    if (!(await docker.imageExists(IMAGE))) throw new Error(`build ${IMAGE} first (pgfort build)`);
    await buildPeerImage(docker, IMAGE, `${IMAGE}-bench`);
    await upCluster(docker, loaded, { onInfo: log });
    await runSql(docker, primary, "CREATE DATABASE app; CREATE DATABASE app_small;");
    log(`pgbench -i -s ${SCALE} app and -s ${SMALL_SCALE} app_small (a few minutes)`);
    for (const [database, scale] of [["app", SCALE], ["app_small", SMALL_SCALE]] as const) {
      const init = await docker.exec(primary, ["pgbench", "-U", "postgres", "-i", "-q", "-s", String(scale), database]);
      if (init.exitCode !== 0) throw new Error(init.stderr);
    }
    // Some transactions, so the balances and the history that the chain's drill checks are not all zero.
    const transactions = await docker.exec(primary, ["pgbench", "-U", "postgres", "-n", "-c", "2", "-t", "1000", "app"]);
    if (transactions.exitCode !== 0) throw new Error(transactions.stderr);
    const size = await runSql(docker, primary, "SELECT pg_database_size('app')");
    log(`app is ${(Number(size) / 1024 ** 3).toFixed(2)} GiB`);
    await runSql(docker, primary, "CHECKPOINT;");
    await ensureReplicationRole(docker, primary, await readSecret(loaded.stateDir, SECRETS.replication.name));

    // Every pgfort step is a hand-off to the running agent (docker exec, its job server): the
    // agent's own peak RSS comes back with each result.
    // Plain s3rver has no multipart listing: its warnings go to the bench's log.
    const pgfortStep = (step: string, request: BackupHandOff, config = loaded) =>
      measure(step, async (reportRss) => (await handOffBackup(docker, config, { ...request, onPeakRss: reportRss, onWarning: (message) => log(`warning: ${message}`) })).files.reduce((sum, item) => sum + item.bytes, 0), true);
    const scratch = path.join(workspace, "raw");
    const raw = (step: string, script: string) => measure(step, () => dockerExecToFile(primary, script, scratch), false);

    // The agent's peak RSS at scale SMALL_SCALE first, on a fresh agent, then the same agent at SCALE: flat or not.
    await docker.restartContainer(`${cluster}-agent`, 30);
    await docker.waitUntilHealthy(`${cluster}-agent`, 60_000);
    const small = await pgfortStep(`pgfort logical -> file:// (scale ${SMALL_SCALE}, fresh agent, for RSS)`, { kind: "logical", databases: ["app_small"] });
    // (a) raw tools and (b) pgfort into file://, each pair back to back.
    const rawLogical = await raw("raw pg_dump -Fc -Z0 | zstd (docker exec > file)", `pg_dump -U postgres -Fc -Z0 -d app | ${ZSTD}`);
    const logical = await pgfortStep("pgfort logical -> file:// via the agent (pg_dump -Z0 | zstd)", { kind: "logical", databases: ["app"], logicalMode: "pipe" });
    const builtin = await pgfortStep("pgfort logical -> file:// via the agent (pg_dump -Fc, its own gzip)", { kind: "logical", databases: ["app"], logicalMode: "builtin" });
    const passfile = `umask 077; IFS= read -r p < /run/secrets/replication-password || true; printf '*:*:*:replicator:%s\\n' "$p" > /tmp/bench-pgpass; export PGPASSFILE=/tmp/bench-pgpass`;
    const rawPhysical = await raw("raw pg_basebackup -Ft -X fetch | zstd (docker exec > file)", `${passfile}\npg_basebackup -w -h 127.0.0.1 -U replicator -D - -F tar -X fetch --checkpoint=fast | ${ZSTD}`);
    const physical = await pgfortStep("pgfort physical -> file:// via the agent", { kind: "physical" });

    // (c) the same into s3:// of an S3 protocol server in its own process: the cluster's target
    // switched to it, so `up` gives the agent that target (and the endpoint as it reaches it).
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_S3: s3.endpoint });
    await writeFile(configFile, configLines("s3://pgfort-bench/bench").join("\n"));
    const onS3 = await loadConfig(undefined, workspace);
    await upCluster(docker, onS3, { onInfo: log });
    const rawLogicalS3 = await measure("raw pg_dump -Fc -Z0 | zstd (docker exec > the same S3 server)", () => dockerExecToS3(primary, `pg_dump -U postgres -Fc -Z0 -d app | ${ZSTD}`, s3.endpoint, "raw/logical"), false);
    const logicalS3 = await pgfortStep("pgfort logical -> s3:// via the agent", { kind: "logical", databases: ["app"] }, onS3);
    const rawPhysicalS3 = await measure(
      "raw pg_basebackup -Ft -X fetch | zstd (docker exec > the same S3 server)",
      () => dockerExecToS3(primary, `${passfile}\npg_basebackup -w -h 127.0.0.1 -U replicator -D - -F tar -X fetch --checkpoint=fast | ${ZSTD}`, s3.endpoint, "raw/physical"),
      false,
    );
    const physicalS3 = await pgfortStep("pgfort physical -> s3:// via the agent", { kind: "physical" }, onS3);

    // (e) incremental physical backups (PostgreSQL 17), run before (d) so their chain starts at
    // the s3:// full above: before each, 1% of pgbench_accounts' rows change; each is against the
    // backup before it (a chain of REPEATS after the last full), so
    // each holds one round's change. First a contiguous 1% (the mostly-cold database), then 1%
    // scattered over the whole table (every page touched: where an incremental cannot help).
    // The change rewrites `filler`, not the balances, so pgbench's invariants still hold for the
    // chain's drill below (the same pages change either way).
    const onePercent = SCALE * 1000;
    const touch = (where: (round: number) => string) => async (round: number) => {
      await runSql(docker, primary, `UPDATE pgbench_accounts SET filler = 'round ${round}' WHERE ${where(round)}`, "app");
    };
    const contiguous = touch((round) => `aid > ${(round - 1) * onePercent} AND aid <= ${round * onePercent}`);
    const incremental = { fullEvery: 2 * REPEATS + 1 };
    let newestIncremental = "";
    const incrementalStep = async (reportRss: (bytes: number) => void) => {
      const manifest = await handOffBackup(docker, onS3, { kind: "physical", incremental, onPeakRss: reportRss });
      newestIncremental = manifest.id;
      return manifest.files.reduce((sum, item) => sum + item.bytes, 0);
    };
    const incrementalS3 = await measure("pgfort incremental physical -> s3:// via the agent (after 1% of rows changed, contiguous)", incrementalStep, true, contiguous);
    await measure("pgfort incremental physical -> s3:// via the agent (after 1% of rows changed, scattered)", incrementalStep, true, touch((round) => `aid % 100 = ${round}`));

    // (d) pgBackRest full backup of the same cluster, process-max 2, zst; then its incr after the same change.
    const stanza = await docker.exec(primary, ["bash", "-c", `mkdir -p ${repo} && ${pgbackrest} stanza-create`]);
    if (stanza.exitCode !== 0) throw new Error(`pgbackrest stanza-create: ${stanza.stderr}${stanza.stdout}`);
    const peerBackup = async (type: "full" | "incr") => {
      // The size is the newest backup's own directory (an incr's holds only what it copied).
      const suffix = type === "full" ? "F" : "I";
      const backup = await docker.exec(primary, ["bash", "-c", `${pgbackrest} --process-max=2 --compress-type=zst --compress-level=3 --start-fast=y backup --type=${type} && du -sb "$(ls -d ${repo}/backup/main/*${suffix} | sort | tail -1)" | cut -f1`]);
      if (backup.exitCode !== 0) throw new Error(`pgbackrest backup: ${backup.stderr}${backup.stdout}`);
      return Number(backup.stdout.trim().split("\n").at(-1));
    };
    const peer = await measure("pgBackRest full backup (process-max 2, compress-type zst)", () => peerBackup("full"), false);
    const peerIncr = await measure("pgBackRest incr backup (after 1% of rows changed, contiguous)", () => peerBackup("incr"), false, contiguous);
    // Last, so the drill's and the restore's CPU and disk fall into no measurement (pgBackRest's
    // first full also pushes the WAL backlog through its archive_command, close to its 60 s timeout).
    const chain = await drillChain(docker, onS3, workspace, newestIncremental);

    const ratio = (a: Result, b: Result) => (a.seconds / b.seconds).toFixed(2);
    const report = [
      "",
      `pgfort benchmark: app ${(Number(size) / 1024 ** 3).toFixed(2)} GiB (pgbench scale ${SCALE}), ${os.cpus().length} CPUs, Docker ${engine.serverVersion}, median of ${REPEATS} runs per step`,
      "",
      "| step | seconds | output MiB | peak RSS MiB |",
      "| --- | ---: | ---: | ---: |",
      ...results.map((result) => `| ${result.step} | ${result.seconds.toFixed(1)} | ${(result.bytes / 1024 / 1024).toFixed(1)} | ${result.peakRssMb ?? ""} |`),
      "",
      `logical,  raw time / pgfort time (file://):  ${ratio(rawLogical, logical)}  (goal >= 0.95)`,
      `physical, raw time / pgfort time (file://):  ${ratio(rawPhysical, physical)}  (goal >= 0.95)`,
      `logical,  raw time (file) / pgfort time (s3://):    ${ratio(rawLogical, logicalS3)}  (goal >= 0.9)`,
      `physical, raw time (file) / pgfort time (s3://):    ${ratio(rawPhysical, physicalS3)}  (goal >= 0.9)`,
      `logical,  raw time (same S3) / pgfort time (s3://): ${ratio(rawLogicalS3, logicalS3)}`,
      `physical, raw time (same S3) / pgfort time (s3://): ${ratio(rawPhysicalS3, physicalS3)}`,
      `physical, pgBackRest time / pgfort time:     ${ratio(peer, physical)}  (goal >= 0.8)`,
      `incremental / full (s3://, 1% of rows changed): size ${(incrementalS3.bytes / physicalS3.bytes).toFixed(3)} (goal <= 0.10), time ${ratio(incrementalS3, physicalS3)} (goal <= 0.40)`,
      `incremental, pgBackRest incr time / pgfort time: ${ratio(peerIncr, incrementalS3)}`,
      `incremental chain of ${chain.links} backups (${newestIncremental}): drill ${chain.drill.status} in ${chain.drillSeconds.toFixed(1)} s (${summarizeChecks(chain.drill.checks)}); restored as a server in ${chain.restoreSeconds.toFixed(1)} s: pgbench invariants ${chain.invariants}`,
      `logical compression: pipe (-Z0 | zstd) ${logical.seconds.toFixed(1)} s vs pg_dump's gzip ${builtin.seconds.toFixed(1)} s -> ${logical.seconds <= builtin.seconds ? "pipe" : "builtin"} is faster`,
      `agent peak RSS: ${Math.max(...results.map((result) => result.peakRssMb ?? 0))} MiB over the run (fresh agent after scale ${SMALL_SCALE}: ${small.peakRssMb} MiB, after scale ${SCALE}: ${logical.peakRssMb} MiB; goal <= 256, flat)`,
    ].join("\n");
    process.stdout.write(`${report}\n`);
  } finally {
    s3.stop();
    await down(docker, cluster, loaded.stateDir, { volumes: true });
    await rm(workspace, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
