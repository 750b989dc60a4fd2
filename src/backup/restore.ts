// Restores a backup into a new server of the cluster (`restore --as NAME`, and the verify drill).
// The source cluster is never touched: a new container with new volumes, on the cluster network.
import { rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import path from "node:path";
import { z } from "zod";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels, objectName, type Role } from "../docker/labels";
import { nodeVolumes } from "../docker/names";
import { BackupError } from "../errors";
import { DATA_DIR } from "../cluster/plan";
import { queryRows, runSql, USER_DATABASES_QUERY } from "../cluster/sql";
import { readHostFacts, upNode } from "../cluster/up";
import { checkFiles, type Check } from "./checksums";
import { runJob } from "./job";
import type { BackupFile, BackupManifest } from "./manifest";
import { DUMP_CREDENTIALS, MARKER, ROW_COUNT_QUERY, decompressorCommand, planJobContainer, type ContainerContext } from "./plan";
import type { BackupTarget } from "./targets/target";

export interface RestoreOptions {
  node: string;
  role: Extract<Role, "restore" | "verify">;
  /** Published port of the restored server (restore --as only). */
  port?: number;
  onInfo?(message: string): void;
}

export interface RestoredServer {
  container: string;
  volumes: string[];
  checks: Check[];
}

/**
 * Checks every file's sha256 first, then restores. On failure everything it created is removed;
 * on success the server runs as <cluster>-<node> (the caller removes it after a drill).
 */
export async function restoreBackup(
  docker: DockerClient,
  loaded: LoadedConfig,
  target: BackupTarget,
  directory: string,
  manifest: BackupManifest,
  options: RestoreOptions,
): Promise<RestoredServer> {
  const checks = await checkFiles(target, directory, manifest);
  const bad = checks.filter((check) => !check.ok);
  if (bad.length > 0) {
    throw new BackupError(`backup ${manifest.id} is damaged: ${bad.map((check) => `${check.name}: ${check.detail}`).join("; ")}`, "restore another backup (pgfort backup list); this one was not applied anywhere");
  }
  options.onInfo?.(`checksums of ${manifest.files.length} file(s) match; restoring into ${objectName(loaded.config.cluster, options.node)}`);
  const container = objectName(loaded.config.cluster, options.node);
  const volumes = Object.values(nodeVolumes(loaded.config.cluster, options.node));
  const facts = await readHostFacts(docker, loaded);
  const context: ContainerContext = {
    config: loaded.config,
    stateDir: loaded.stateDir,
    primaryNode: options.node,
    role: options.role,
    node: `${options.node}-job`,
    hostCpus: facts.cpus,
    credentials: DUMP_CREDENTIALS,
  };
  const spec = {
    node: options.node,
    role: options.role,
    resources: loaded.config.primary.resources,
    settings: loaded.config.primary.settings,
    ...(options.port ? { port: options.port } : {}),
  };
  try {
    if (manifest.kind === "physical") {
      const base = manifest.files.find((file) => file.content === "base");
      if (!base) throw new BackupError(`backup ${manifest.id} has no base file`, "its manifest is not one pgfort wrote");
      for (const volume of volumes) await docker.ensureVolume(volume, clusterLabels(loaded.config.cluster, options.role, options.node));
      const dataMount = { volume: volumes[0] ?? "", target: DATA_DIR };
      await runStep(docker, { ...context, mounts: [dataMount], network: "none" }, `${decompressorCommand(base.compression)} | tar -x -C ${DATA_DIR}`, await target.read(`${directory}${base.name}`), "extracting the base backup");
      // pg_verifybackup reads the backup_manifest pg_basebackup put in the tar, and parses the WAL.
      await runStep(docker, { ...context, mounts: [dataMount], network: "none" }, `pg_verifybackup ${DATA_DIR}`, undefined, "pg_verifybackup");
      checks.push({ name: "pg_verifybackup", ok: true, detail: "the extracted files and WAL match the backup's own manifest" });
      await upNode(docker, loaded, facts, spec, "primary.resources");
    } else {
      await upNode(docker, loaded, facts, spec, "primary.resources");
      for (const file of manifest.files) {
        await runStep(docker, context, restoreCommand(file), await target.read(`${directory}${file.name}`), `restoring ${file.name}`, file.database);
      }
    }
    checks.push({ name: "server starts", ok: true, detail: `${container} is healthy` });
    return { container, volumes, checks };
  } catch (error) {
    await removeRestored(docker, loaded, options.node);
    throw error;
  }
}

function restoreCommand(file: BackupFile): string {
  const decompress = decompressorCommand(file.compression === "pg_dump" ? "none" : file.compression);
  if (file.content === "globals") {
    // The dump creates roles that exist in any new server (the superuser): those errors are expected.
    return `${decompress} | psql -X -q -d postgres 2>&1 >/dev/null | { grep -v 'already exists' || true; } | sed 's/^/psql: /' >&2`;
  }
  const into = file.database === "postgres" ? '-d "$PGFORT_DATABASE"' : "--create -d postgres";
  return `${decompress} | pg_restore --exit-on-error --no-password ${into}`;
}

async function runStep(
  docker: DockerClient,
  context: ContainerContext,
  script: string,
  input: Readable | undefined,
  what: string,
  database?: string,
): Promise<void> {
  const create = planJobContainer(context, script, database !== undefined ? [`PGFORT_DATABASE=${database}`] : []);
  const result = await runJob(docker, create, input ? { stdin: input } : {});
  const errors = result.stderr.toString().split("\n").filter((line) => /^psql: .*ERROR/.test(line));
  if (result.exitCode !== 0 || errors.length > 0) {
    throw new BackupError(`${what} failed (exit ${result.exitCode}): ${errors.join("; ") || result.stderr.lastLines(8) || "no output"}`, "read the message above; the partly restored server was removed");
  }
}

export async function removeRestored(docker: DockerClient, loaded: LoadedConfig, node: string): Promise<void> {
  const container = objectName(loaded.config.cluster, node);
  await docker.removeContainer(container);
  for (const volume of Object.values(nodeVolumes(loaded.config.cluster, node))) await docker.removeVolume(volume);
  await rm(path.join(loaded.stateDir, node), { recursive: true, force: true });
}

const DatabaseRow = z.object({ datname: z.string() });

/** Rows per table of every database of a running server, as the backup's manifest records them. */
export async function countRows(docker: DockerClient, container: string, databases?: string[]): Promise<Record<string, Record<string, number>>> {
  const names =
    databases ??
    (await queryRows(docker, container, USER_DATABASES_QUERY, DatabaseRow)).map(
      (row) => row.datname,
    );
  const counts: Record<string, Record<string, number>> = {};
  for (const database of names) {
    const line = await runSql(docker, container, ROW_COUNT_QUERY, database);
    counts[database] = z.record(z.string(), z.number()).parse(JSON.parse(line.slice(MARKER.rowCounts.length)));
  }
  return counts;
}
