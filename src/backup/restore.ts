// Restores a backup into a new server of the cluster (`restore --as NAME`, and the verify drill).
// The source cluster is never touched: a new container with new volumes, on the cluster network.
import { rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { clusterLabels, objectName, type Role } from "../docker/labels";
import { nodeVolumes } from "../docker/names";
import { BackupError } from "../errors";
import { DATA_DIR } from "../cluster/plan";
import { readHostFacts, upNode } from "../cluster/up";
import { CheckFailedError, checkFiles, type Check } from "./checksums";
import { runThrowaway } from "../docker/throwaway";
import { ownerLabels } from "../lifecycle/owner";
import { Releasers } from "../lifecycle/releasers";
import { writeJsonFileAtomic } from "../state/json-file";
import type { BackupManifest } from "./manifest";
import { DUMP_CREDENTIALS, planJobContainer, planRestoreProgram, type ContainerContext, type JobProgram } from "./plan";
import type { BackupTarget } from "./targets/target";

export interface RestoreOptions {
  node: string;
  role: Extract<Role, "restore" | "verify">;
  /** Published port of the restored server (restore --as only). */
  port?: number;
  onInfo?(message: string): void;
  /** Aborting it (Ctrl-C) stops the restore and removes the server, its volumes and job containers. */
  signal?: AbortSignal;
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
  const { signal } = options;
  const checks = await checkFiles(target, directory, manifest, signal);
  const bad = checks.filter((check) => !check.ok);
  if (bad.length > 0) {
    throw new CheckFailedError(
      `backup ${manifest.id} is damaged: ${bad.map((check) => `${check.name}: ${check.detail}`).join("; ")}`,
      "restore another backup (pgfort backup list); this one was not applied anywhere",
      checks,
    );
  }
  signal?.throwIfAborted();
  options.onInfo?.(`checksums of ${manifest.files.length} file(s) match; restoring into ${objectName(loaded.config.cluster, options.node)}`);
  const container = objectName(loaded.config.cluster, options.node);
  const volumes = Object.values(nodeVolumes(loaded.config.cluster, options.node));
  const facts = await readHostFacts(docker, loaded);
  const context: StepContext = {
    config: loaded.config,
    primaryNode: options.node,
    role: options.role,
    node: `${options.node}-job`,
    hostCpus: facts.cpus,
    credentials: DUMP_CREDENTIALS,
    signal,
  };
  const spec = {
    node: options.node,
    role: options.role,
    resources: loaded.config.primary.resources,
    settings: loaded.config.primary.settings,
    ...(options.port ? { port: options.port } : {}),
  };
  // The server is started by upNode, which takes no signal: on abort its container is removed at
  // once (its health wait then ends), and we wait for upNode to settle before removing the rest.
  let serverUp: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> = Promise.resolve();
  const startServer = async () => {
    serverUp = upNode(docker, loaded, facts, spec, "primary.resources");
    const stop = () => void (stopping = docker.removeContainer(container).catch(() => undefined));
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await serverUp;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    signal?.throwIfAborted();
  };
  try {
    // The volumes first, labelled with their owner: the reaper can tell a dead run's volumes
    // (upNode finds them and keeps them; its server container follows its volumes' owner).
    const labels = { ...clusterLabels(loaded.config.cluster, options.role, options.node), ...ownerLabels() };
    for (const volume of volumes) await docker.ensureVolume(volume, labels);
    if (manifest.kind === "physical") {
      const base = manifest.files.find((file) => file.content === "base");
      if (!base) {
        const detail = `backup ${manifest.id} has no base file`;
        throw new CheckFailedError(detail, "its manifest is not one pgfort wrote", [{ name: "base file", ok: false, detail }]);
      }
      const offline = { ...context, mounts: [{ volume: volumes[0] ?? "", target: DATA_DIR }], network: "none" as const };
      await runStep(docker, offline, planRestoreProgram(base), await target.read(`${directory}${base.name}`), "extracting the base backup");
      await runStep(docker, offline, { verb: "verify-base", env: { PGFORT_DATA_DIR: DATA_DIR } }, undefined, "pg_verifybackup");
      checks.push({ name: "pg_verifybackup", ok: true, detail: "the extracted files and WAL match the backup's own manifest" });
      await startServer();
    } else {
      await startServer();
      for (const file of manifest.files) {
        await runStep(docker, context, planRestoreProgram(file), await target.read(`${directory}${file.name}`), `restoring ${file.name}`);
      }
    }
    checks.push({ name: "server starts", ok: true, detail: `${container} is healthy` });
    if (options.role === "restore") await markRestored(loaded, options.node, manifest.id);
    return { container, volumes, checks };
  } catch (error) {
    // Two removals of one container at once: the second fails with 409; let the first finish.
    await serverUp.catch(() => undefined);
    await stopping;
    await removeRestored(docker, loaded, options.node);
    if (signal?.aborted) throw signal.reason;
    // A failed step's verdict keeps the checks that passed before it (the checksums).
    if (error instanceof CheckFailedError) throw new CheckFailedError(error.message, error.hint, [...checks, ...error.checks]);
    throw error;
  }
}

type StepContext = ContainerContext & { signal?: AbortSignal | undefined };

async function runStep(docker: DockerClient, context: StepContext, program: JobProgram, input: Readable | undefined, what: string): Promise<void> {
  const create = planJobContainer(context, program);
  const result = await runThrowaway(docker, { create, signal: context.signal, ...(input ? { stdin: input } : {}) });
  if (result.exitCode !== 0 || result.result === undefined) {
    const errors = result.stderr.toString().split("\n").filter((line) => /^psql: .*ERROR/.test(line));
    const message = `${what} failed (exit ${result.exitCode}): ${errors.join("; ") || result.stderr.lastLines(8) || "no output"}`;
    const hint = "read the message above; the partly restored server was removed";
    // The tool ran and refused the backup (exit 1-127, psql's ERROR lines): a failed check.
    // 128+ is a signal (OOM kill, docker kill): the drill was stopped, which says nothing of the backup.
    if (result.exitCode > 0 && result.exitCode < 128) throw new CheckFailedError(message, hint, [{ name: what, ok: false, detail: message }]);
    throw new BackupError(message, hint);
  }
}

/**
 * A `restore --as` server is kept after success although its volumes name an owner that exits:
 * this marker (beside its conf.d, removed with it) tells the reaper it is finished, not a leftover.
 */
export const RESTORED_MARKER = "restored.json";

async function markRestored(loaded: LoadedConfig, node: string, id: string): Promise<void> {
  await writeJsonFileAtomic(path.join(loaded.stateDir, node, RESTORED_MARKER), { id, restoredAt: new Date().toISOString() });
}

export async function removeRestored(docker: DockerClient, loaded: LoadedConfig, node: string): Promise<void> {
  const container = objectName(loaded.config.cluster, node);
  // Every step attempted, the container first (it holds the volumes), the first error kept.
  const releasers = new Releasers();
  releasers.add(() => rm(path.join(loaded.stateDir, node), { recursive: true, force: true }));
  for (const volume of Object.values(nodeVolumes(loaded.config.cluster, node)).reverse()) releasers.add(() => docker.removeVolume(volume));
  releasers.add(() => docker.removeContainer(container));
  await releasers.release();
}
