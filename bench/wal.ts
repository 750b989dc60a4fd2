// npm run bench (second part): continuous WAL archiving and point-in-time restore, in one run.
// Under `pgbench -c 4 -T 120` on this machine: the WAL rate and the most WAL files that waited for
// the archive (sampled every second in the primary's archive_status). Then the RTO: pgfort's
// `restore --latest` and `backup verify --pitr`, beside the raw work on the same files (extract
// the base, decompress the archived WAL, let PostgreSQL replay it: bench/raw-pitr.sh).
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../src/config/load";
import { upCluster } from "../src/orchestrate/up";
import { down } from "../src/cluster/down";
import { runSql } from "../src/cluster/sql";
import { DockerClient } from "../src/docker/client";
import { handOffBackup } from "../src/handoff/backup";
import { lsnDistanceBytes } from "../src/metrics/lsn";
import { timed } from "./timed";

const SCALE = Number(process.env["PGFORT_BENCH_WAL_SCALE"] ?? 20);
const SECONDS = Number(process.env["PGFORT_BENCH_WAL_SECONDS"] ?? 120);
const IMAGE = process.env["PGFORT_BENCH_IMAGE"] ?? "pgfort/postgres:17";
const CLI = path.join(__dirname, "..", "src", "cli", "index.js");

function log(message: string): void {
  process.stderr.write(`[bench-wal ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function main(): Promise<void> {
  const workspace = await mkdtemp(path.join(os.tmpdir(), "pgfort-bench-wal-"));
  const docker = await DockerClient.connect();
  const cluster = "pgfortwal";
  const primary = `${cluster}-primary`;
  await writeFile(
    path.join(workspace, "pgfort.yaml"),
    [`cluster: ${cluster}`, `image: { tag: ${IMAGE} }`, "primary:", "  port: 55497", "  resources: { memory: 2g, cpus: 2 }", "backups: { target: file://./backups, compression: zstd }", "agent: { port: 59187 }", ""].join("\n"),
  );
  const loaded = await loadConfig(undefined, workspace);
  try {
    await upCluster(docker, loaded, { onInfo: log });
    await runSql(docker, primary, "CREATE DATABASE app;");
    log(`pgbench -i -s ${SCALE} app`);
    const init = await docker.exec(primary, ["pgbench", "-U", "postgres", "-i", "-q", "-s", String(SCALE), "app"]);
    if (init.exitCode !== 0) throw new Error(init.stderr);
    const base = await handOffBackup(docker, loaded, { kind: "physical", onWarning: (message) => log(`warning: ${message}`) });
    log(`physical backup ${base.id}; pgbench -c 4 -j 2 -T ${SECONDS}, sampling the archive backlog every second`);
    const startLsn = await runSql(docker, primary, "SELECT pg_current_wal_lsn()");
    const failedBefore = Number(await runSql(docker, primary, "SELECT failed_count FROM pg_stat_archiver"));
    const load = docker.exec(primary, ["pgbench", "-U", "postgres", "-n", "-c", "4", "-j", "2", "-T", String(SECONDS), "app"]);
    const { most, samples } = await sampleBacklog(docker, primary, load);
    const bench = await load;
    if (bench.exitCode !== 0) throw new Error(`pgbench: ${bench.stderr}`);
    const tps = /tps = ([\d.]+)/.exec(bench.stdout)?.[1] ?? "?";
    const endLsn = await runSql(docker, primary, "SELECT pg_current_wal_lsn()");
    const walMiB = lsnDistanceBytes(startLsn, endLsn) / 1024 / 1024;
    await drained(docker, primary);
    const failedAttempts = Number(await runSql(docker, primary, "SELECT failed_count FROM pg_stat_archiver")) - failedBefore;
    log(`archive_command failures before pgbench: ${failedBefore}; last: ${await runSql(docker, primary, "SELECT concat_ws(' at ', last_failed_wal, last_failed_time) FROM pg_stat_archiver")}`);
    const walDir = path.join(workspace, "backups", cluster, "wal");
    const archived = (await readdir(walDir)).filter((name) => /^[0-9A-F]{24}\.[0-9a-f]{64}\.zst$/.test(name)).length;
    log(`pgbench ${tps} tps; ${walMiB.toFixed(0)} MiB of WAL; most waiting ${most} file(s) over ${samples} samples; ${archived} segments archived; ${failedAttempts} failed archive_command runs`);

    log("pgfort restore --as rto --latest");
    const restore = await timed(process.execPath, [CLI, "restore", "--as", "rto", "--latest"], workspace);
    const history = (container: string) => runSql(docker, container, "SELECT count(*) FROM pgbench_history", "app");
    if ((await history(`${cluster}-rto`)) !== (await history(primary))) throw new Error("the restored server misses transactions");
    log("pgfort backup verify --pitr");
    const drill = await timed(process.execPath, [CLI, "backup", "verify", "--pitr"], workspace);
    log("raw: extract the base, decompress the WAL, replay (bench/raw-pitr.sh)");
    const raw = await timed("docker", [
      "run", "--rm", "--user", "999:999",
      "-v", `${path.join(workspace, "backups", cluster)}:/target:ro`,
      "-v", `${path.join(__dirname, "..", "..", "bench", "raw-pitr.sh")}:/raw-pitr.sh:ro`,
      IMAGE, "bash", "/raw-pitr.sh", `/target/physical/${base.id}/base.tar.zst`, "/target/wal",
    ]);
    const parts = Object.fromEntries(raw.stdout.trim().split("\n").map((line) => line.split(" ") as [string, string]));
    const burst = await walBurst(docker, primary);
    const report = [
      "",
      `pgfort WAL benchmark: pgbench scale ${SCALE}, -c 4 -j 2 -T ${SECONDS}, ${os.cpus().length} CPUs; compression zstd`,
      "",
      "| measure | value |",
      "| --- | ---: |",
      `| pgbench throughput | ${tps} tps |`,
      `| WAL written | ${walMiB.toFixed(0)} MiB (${(walMiB / SECONDS).toFixed(2)} MiB/s) |`,
      `| archive backlog, most WAL files waiting (goal < 3) | ${most} (${failedAttempts} failed archive_command runs) |`,
      `| pgfort restore --latest (base + ${archived} WAL files, new server healthy) | ${restore.seconds.toFixed(1)} s |`,
      `| pgfort backup verify --pitr (random point, drill checks) | ${drill.seconds.toFixed(1)} s |`,
      `| raw: extract base + decompress WAL + replay | ${(Number(parts["extract"]) + Number(parts["wal"]) + Number(parts["replay"])).toFixed(1)} s (${parts["extract"]} + ${parts["wal"]} + ${parts["replay"]}) |`,
      `| burst: ${burst.mib.toFixed(0)} MiB of WAL as fast as 2 sessions write it | ${burst.writeSeconds.toFixed(1)} s (${(burst.mib / burst.writeSeconds).toFixed(1)} MiB/s), most waiting ${burst.most} |`,
      `| burst: all of it archived (archiver throughput) | ${burst.archivedSeconds.toFixed(1)} s after the start (${(burst.mib / burst.archivedSeconds).toFixed(1)} MiB/s) |`,
    ].join("\n");
    process.stdout.write(`${report}\n`);
  } finally {
    await down(docker, cluster, loaded.stateDir, { volumes: true });
    await rm(workspace, { recursive: true, force: true });
  }
}

/** Samples the primary's archive_status every second until `until` settles: the most ready files at once. */
async function sampleBacklog(docker: DockerClient, primary: string, until: Promise<unknown>): Promise<{ most: number; samples: number }> {
  let finished = false;
  void until.finally(() => (finished = true)).catch(() => undefined);
  let most = 0;
  let samples = 0;
  while (!finished) {
    const ready = Number(await runSql(docker, primary, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
    most = Math.max(most, ready);
    samples += 1;
    await sleep(1000);
  }
  return { most, samples };
}

/** Closes the current WAL file and waits until the archiver has stored it and everything before. */
async function drained(docker: DockerClient, primary: string): Promise<void> {
  const closed = await runSql(docker, primary, "SELECT pg_walfile_name(pg_switch_wal())");
  while ((await runSql(docker, primary, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) < closed) await sleep(200);
}

/**
 * The archiver's capacity, past what pgbench on this machine writes: two sessions insert wide rows
 * as fast as they can (plain tables: every row is in the WAL); the WAL rate, the most files that
 * waited, and the time until all of it was archived.
 */
async function walBurst(docker: DockerClient, primary: string): Promise<{ mib: number; writeSeconds: number; archivedSeconds: number; most: number }> {
  const rows = Number(process.env["PGFORT_BENCH_WAL_BURST_ROWS"] ?? 400_000);
  log(`burst: 2 sessions insert ${rows} rows of 1 kB each`);
  await runSql(docker, primary, "CREATE TABLE burst_a (v text); CREATE TABLE burst_b (v text);", "app");
  const startLsn = await runSql(docker, primary, "SELECT pg_current_wal_lsn()");
  const started = process.hrtime.bigint();
  const insert = (table: string) => runSql(docker, primary, `INSERT INTO ${table} SELECT repeat(md5(g::text), 32) FROM generate_series(1, ${rows}) g`, "app");
  const writing = Promise.all([insert("burst_a"), insert("burst_b")]);
  const { most } = await sampleBacklog(docker, primary, writing);
  await writing;
  const writeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const mib = lsnDistanceBytes(startLsn, await runSql(docker, primary, "SELECT pg_current_wal_lsn()")) / 1024 / 1024;
  await drained(docker, primary);
  const archivedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  log(`burst: ${mib.toFixed(0)} MiB in ${writeSeconds.toFixed(1)} s, most waiting ${most}, archived after ${archivedSeconds.toFixed(1)} s`);
  return { mib, writeSeconds, archivedSeconds, most };
}

void main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
