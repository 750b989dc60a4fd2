// npm run bench, issue 15: pgfort's parallel physical engine against pgBackRest, in one run on one
// pgbench database (scale 100, about 1.5 GB, data checksums on). For zstd -3 and lz4 -1: pgBackRest
// (Debian's package, process-max = pgfort's workers, the same compressor and level, page checksums
// verified: its default on a cluster with data checksums) backup and restore, pg_basebackup piped
// through the same compressor (the raw tool), pgfort's parallel backup into file:// and s3:// and
// its parallel restore. Restores go into a fresh volume through a fresh container on both sides.
// Prints the table, the ratios against the goals, and pgfort's peak RSS.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig, type LoadedConfig } from "../src/config/load";
import { upCluster } from "../src/orchestrate/up";
import { down } from "../src/cluster/down";
import { runSql } from "../src/cluster/sql";
import { DATA_DIR, SECRETS } from "../src/cluster/plan";
import { readSecret } from "../src/cluster/state";
import { DockerClient } from "../src/docker/client";
import { nodeVolumes } from "../src/docker/names";
import { handOffBackup, handOffRestore } from "../src/handoff/backup";
import { ensureReplicationRole } from "../src/replica/replication";
import { ARCHIVE_COMMAND_PATH } from "../src/cluster/archive-settings";
import { buildPeerImage } from "./peer-image";
import { timed } from "./timed";
import { dockerExecToFile, IMAGE, log, measure, REPEATS, results, startS3, type Result } from "./harness";

const SCALE = Number(process.env["PGFORT_BENCH_SCALE"] ?? 100);
const WORKERS = 2;
const CLUSTER = "pgfortpar";
const PRIMARY = `${CLUSTER}-primary`;
const REPO = "/var/lib/postgresql/wal/pgbackrest";
const PGBACKREST = `pgbackrest --stanza=main --pg1-path=${DATA_DIR} --repo1-path=${REPO} --lock-path=/tmp --log-path=/tmp --log-level-file=off --log-level-console=warn`;
const RESTORE_VOLUME = `${CLUSTER}-bench-restore`;

interface Codec {
  name: "zstd" | "lz4";
  level: number;
  /** pgBackRest's --compress-type. */
  peer: string;
  /** The same compressor for the raw pipe, one thread per worker's share. */
  raw: string;
}

const CODECS: Codec[] = [
  { name: "zstd", level: 3, peer: "zst", raw: `zstd -q -c -3 -T${WORKERS}` },
  { name: "lz4", level: 1, peer: "lz4", raw: "lz4 -q -c -1" },
];

function configText(codec: Codec, target: string): string {
  return [
    `cluster: ${CLUSTER}`,
    `image: { tag: ${IMAGE}-bench }`,
    "primary:",
    "  port: 55498",
    "  resources: { memory: 4g, cpus: 2 }",
    // pgBackRest needs its own WAL archive (its repo on the WAL volume, writable by postgres): after pgfort's.
    `  settings: { archive_mode: "on", archive_command: "${ARCHIVE_COMMAND_PATH} %p %f ${2 * 1024 ** 3} && ${PGBACKREST} archive-push %p", max_wal_size: 4GB }`,
    `backups: { target: "${target}", compression: ${codec.name}, compressionLevel: ${codec.level}, resources: { memory: 512m, cpus: 2 }, physical: { engine: parallel, workers: ${WORKERS} } }`,
  ].join("\n");
}

async function main(): Promise<void> {
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";
  const workspace = await mkdtemp(path.join(os.tmpdir(), "pgfort-bench-parallel-"));
  const configFile = path.join(workspace, "pgfort.yaml");
  const docker = await DockerClient.connect();
  const engine = await docker.engineInfo();
  const s3 = await startS3(await mkdtemp(path.join(os.tmpdir(), "pgfort-bench-s3-")));
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_S3: s3.endpoint });
  /** The cluster on this codec and target: `up` re-creates the agent when its config changed. */
  const configure = async (codec: Codec, target: string): Promise<LoadedConfig> => {
    await writeFile(configFile, configText(codec, target));
    const loaded = await loadConfig(undefined, workspace);
    await upCluster(docker, loaded, { onInfo: () => undefined });
    return loaded;
  };
  await writeFile(configFile, configText(CODECS[0]!, "file://./backups"));
  let loaded = await loadConfig(undefined, workspace);
  try {
    log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Docker ${engine.serverVersion}, ${os.release()}`);
    if (!(await docker.imageExists(IMAGE))) throw new Error(`build ${IMAGE} first (pgfort build)`);
    log(`building the bench image (${IMAGE} + pgbackrest)`);
    await buildPeerImage(docker, IMAGE, `${IMAGE}-bench`);
    loaded = await configure(CODECS[0]!, "file://./backups");
    await runSql(docker, PRIMARY, "CREATE DATABASE app");
    log(`pgbench -i -s ${SCALE} app`);
    const init = await docker.exec(PRIMARY, ["pgbench", "-U", "postgres", "-i", "-q", "-s", String(SCALE), "app"]);
    if (init.exitCode !== 0) throw new Error(init.stderr);
    const size = Number(await runSql(docker, PRIMARY, "SELECT pg_database_size('app')"));
    const checksums = await runSql(docker, PRIMARY, "SHOW data_checksums");
    log(`app is ${(size / 1024 ** 3).toFixed(2)} GiB, data_checksums ${checksums}`);
    await runSql(docker, PRIMARY, "CHECKPOINT;");
    await ensureReplicationRole(docker, PRIMARY, await readSecret(loaded.stateDir, SECRETS.replication.name));
    const stanza = await docker.exec(PRIMARY, ["bash", "-c", `mkdir -p ${REPO} && ${PGBACKREST} stanza-create`]);
    if (stanza.exitCode !== 0) throw new Error(`pgbackrest stanza-create: ${stanza.stderr}${stanza.stdout}`);
    const passfile = `umask 077; IFS= read -r p < /run/secrets/replication-password || true; printf '*:*:*:replicator:%s\\n' "$p" > /tmp/bench-pgpass; export PGPASSFILE=/tmp/bench-pgpass`;
    const walVolume = nodeVolumes(CLUSTER, "primary").wal;
    // A fresh, empty volume before each restore (the image's data directory gives it the postgres owner).
    const freshVolume = async () => {
      await docker.removeVolume(RESTORE_VOLUME);
      await docker.ensureVolume(RESTORE_VOLUME, { "pgfort.cluster": CLUSTER });
    };

    const summary: string[] = [];
    for (const codec of CODECS) {
      loaded = await configure(codec, "file://./backups");
      // pgBackRest: its full backup, process-max = pgfort's workers; the size is the backup's directory.
      const peer = await measure(`pgBackRest backup (process-max ${WORKERS}, ${codec.peer} level ${codec.level})`, async () => {
        const run = await docker.exec(PRIMARY, ["bash", "-c", `${PGBACKREST} --process-max=${WORKERS} --compress-type=${codec.peer} --compress-level=${codec.level} --start-fast=y --type=full backup && du -sb "$(ls -d ${REPO}/backup/main/*F | sort | tail -1)" | cut -f1`]);
        if (run.exitCode !== 0) throw new Error(`pgbackrest backup: ${run.stderr}${run.stdout}`);
        return Number(run.stdout.trim().split("\n").at(-1));
      }, false);
      const raw = await measure(`raw pg_basebackup -Ft -X fetch | ${codec.raw} (docker exec > file)`, () =>
        dockerExecToFile(PRIMARY, `${passfile}\npg_basebackup -w -h 127.0.0.1 -U replicator -D - -F tar -X fetch --checkpoint=fast | ${codec.raw}`, path.join(workspace, "raw")),
      false);
      let newest = "";
      const pgfortBackup = (config: LoadedConfig) => async (reportRss: (bytes: number) => void) => {
        const manifest = await handOffBackup(docker, config, { kind: "physical", onPeakRss: reportRss, onWarning: (message) => log(`warning: ${message}`) });
        if (manifest.engine !== "parallel") throw new Error(`backup ${manifest.id} was taken by ${manifest.engine ?? "pg_basebackup"}, not the parallel engine`);
        newest = manifest.id;
        return manifest.files.reduce((sum, file) => sum + file.bytes, 0);
      };
      const file = await measure(`pgfort parallel backup -> file:// (${WORKERS} workers, ${codec.name} -${codec.level})`, pgfortBackup(loaded), true);
      const backupId = newest;
      const peerRestore = await measure(`pgBackRest restore (process-max ${WORKERS}) into a fresh volume`, async () => {
        await timed("docker", ["run", "--rm", "--user", "999:999", "-v", `${walVolume}:/var/lib/postgresql/wal:ro`, "-v", `${RESTORE_VOLUME}:${DATA_DIR}`, "--entrypoint", "bash", `${IMAGE}-bench`, "-c", `${PGBACKREST} --process-max=${WORKERS} restore`]);
        return 0;
      }, false, freshVolume);
      const restore = await measure(`pgfort parallel restore into a fresh volume (sha256, extract, pg_verifybackup)`, async (reportRss) => {
        await handOffRestore(docker, loaded, { id: backupId, dataVolume: RESTORE_VOLUME, dataDir: DATA_DIR, onPeakRss: reportRss });
        return 0;
      }, true, freshVolume);
      const onS3 = await configure(codec, "s3://pgfort-bench/parallel");
      const intoS3 = await measure(`pgfort parallel backup -> s3:// (${WORKERS} workers, ${codec.name} -${codec.level})`, pgfortBackup(onS3), true);
      const ratio = (a: Result, b: Result) => (a.seconds / b.seconds).toFixed(2);
      summary.push(
        `${codec.name}: pgBackRest time / pgfort time, backup: ${ratio(peer, file)} (goal >= 1.25); size pgfort / pgBackRest: ${(file.bytes / peer.bytes).toFixed(2)} (goal <= 1.1)`,
        `${codec.name}: pgBackRest time / pgfort time, restore: ${ratio(peerRestore, restore)} (goal >= 1.0)`,
        `${codec.name}: pgfort into s3:// / into file:// (speed): ${ratio(file, intoS3)} (goal >= 0.95); pgBackRest time / pgfort time into s3://: ${ratio(peer, intoS3)}`,
        `${codec.name}: raw pg_basebackup | ${codec.name} time / pgfort time: ${ratio(raw, file)}`,
      );
    }
    const report = [
      "",
      `pgfort parallel engine benchmark: app ${(size / 1024 ** 3).toFixed(2)} GiB (pgbench scale ${SCALE}, data checksums on), ${os.cpus().length} CPUs, Docker ${engine.serverVersion}, median of ${REPEATS} runs per step`,
      "",
      "| step | seconds | output MiB | peak RSS MiB |",
      "| --- | ---: | ---: | ---: |",
      ...results.map((result) => `| ${result.step} | ${result.seconds.toFixed(2)} | ${result.bytes ? (result.bytes / 1024 / 1024).toFixed(1) : ""} | ${result.peakRssMb ?? ""} |`),
      "",
      ...summary,
      `pgfort peak RSS (backup and restore jobs): ${Math.max(...results.map((result) => result.peakRssMb ?? 0))} MiB (goal <= 256)`,
    ].join("\n");
    process.stdout.write(`${report}\n`);
  } finally {
    s3.stop();
    await docker.removeVolume(RESTORE_VOLUME).catch(() => undefined);
    await down(docker, CLUSTER, loaded.stateDir, { volumes: true });
    await rm(workspace, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
