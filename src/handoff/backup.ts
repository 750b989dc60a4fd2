// `pgfort backup run` and `backup prune` on the host: the job handed over (run-job.ts), its
// events shown, its answer read back by schema.
import { z } from "zod";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { ManifestSchema, type BackupManifest } from "../backup/manifest";
import { VerdictSchema } from "../backup/verdict";
import type { PruneResult } from "../backup/prune";
import type { BackupKind } from "../backup/layout";
import type { LogicalMode } from "../backup/plan";
import { ContainerError } from "../errors";
import { JobFailedError, type JobEvent } from "../jobs/events";
import { drillError } from "../backup/drill-outcome";
import { handOffJob, type HandOffRequest } from "./run-job";
import { primarySourceVolumes, sourceMounts } from "./source-volumes";
import type { RecoveryTarget } from "../wal/recovery-target";

export interface HandOffListener {
  onProgress?(progress: { file: string; bytes: number; elapsedMs: number }): void;
  onInfo?(message: string): void;
  onWarning?(message: string): void;
  onStart?: HandOffRequest["onStart"];
  /** The job process's peak RSS, when it reports it (the benchmark's figure). */
  onPeakRss?(bytes: number): void;
}

export interface BackupHandOff extends HandOffListener {
  kind: BackupKind;
  databases?: readonly string[] | undefined;
  job?: string | undefined;
  /** Logical: pg_dump -Z0 piped through the compressor (default), or pg_dump's own gzip (the bench compares). */
  logicalMode?: LogicalMode | undefined;
  /** Physical, 17+: incremental against the newest physical backup, chains of at most fullEvery. */
  incremental?: { fullEvery: number } | undefined;
  targetUrl?: string | undefined;
  signal?: AbortSignal | undefined;
}

function eventsTo(listener: HandOffListener): (event: JobEvent) => void {
  return (event) => {
    if (event.event === "progress") listener.onProgress?.(event);
    else if (event.event === "info") listener.onInfo?.(event.message);
    else if (event.event === "warning") listener.onWarning?.(event.message);
    else if (event.event === "result" && event.peakRssBytes !== undefined) listener.onPeakRss?.(event.peakRssBytes);
  };
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ContainerError(`the job's ${what} is not what this pgfort expects: ${result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`, "rebuild the agent image with this pgfort (pgfort build), then pgfort up");
}

/** What every hand-off passes on besides its arguments: where to, the listener, the abort. */
interface HandOffCommon extends HandOffListener {
  targetUrl?: string | undefined;
  signal?: AbortSignal | undefined;
}

function handOff(docker: DockerClient, loaded: LoadedConfig, request: HandOffCommon, job: Pick<HandOffRequest, "args" | "needsServer" | "scratch" | "mounts" | "agentMounts" | "needsNetwork" | "role">): Promise<unknown> {
  return handOffJob(docker, loaded, {
    ...job,
    targetUrl: request.targetUrl,
    onEvent: eventsTo(request),
    onInfo: request.onInfo,
    onWarning: request.onWarning,
    onStart: request.onStart,
    signal: request.signal,
  });
}

export async function handOffBackup(docker: DockerClient, loaded: LoadedConfig, request: BackupHandOff): Promise<BackupManifest> {
  const args = ["backup", "--kind", request.kind];
  if (request.databases && request.databases.length > 0) args.push("--database", ...request.databases);
  if (request.job) args.push("--job", request.job);
  if (request.logicalMode) args.push("--logical-mode", request.logicalMode);
  if (request.incremental) args.push("--incremental", "--full-every", String(request.incremental.fullEvery));
  // Physical: the primary's volumes read-only, for the parallel engine (a running agent has them already).
  const agentMounts = request.kind === "physical" ? sourceMounts(await primarySourceVolumes(docker, loaded)) : [];
  return parsed(ManifestSchema, await handOff(docker, loaded, request, { args, needsServer: true, agentMounts }), "manifest");
}

const PruneResultSchema = z.object({
  decisions: z.array(z.object({ id: z.string(), kind: z.enum(["logical", "physical"]), keep: z.boolean(), reasons: z.array(z.string()) })),
  deleted: z.array(z.string()),
  abortedUploads: z.number(),
  walRemoved: z.number(),
  dryRun: z.boolean(),
});

export async function handOffPrune(docker: DockerClient, loaded: LoadedConfig, request: HandOffCommon & { dryRun: boolean }): Promise<PruneResult> {
  const args = ["prune", ...(request.dryRun ? ["--dry-run"] : [])];
  return parsed(PruneResultSchema, await handOff(docker, loaded, request, { args, needsServer: false }), "prune result");
}

const VerifyResultSchema = z.object({ verdict: VerdictSchema, location: z.string() });

/**
 * `pgfort backup verify`: the drill as a job (the agent's scratch volume, or a one-off's own). The
 * job's own error comes back as it is (a DrillError is exit 3); a job lost on the way (the agent
 * killed or restarted mid-drill, the engine gone) after it started wrote no verdict either: a
 * DrillError too.
 */
export async function handOffVerify(docker: DockerClient, loaded: LoadedConfig, request: HandOffCommon & ({ id: string } | { pitr: true })): Promise<z.infer<typeof VerifyResultSchema>> {
  const args = "pitr" in request ? ["verify", "--pitr"] : ["verify", request.id];
  const drilled = "pitr" in request ? "(point-in-time drill)" : request.id;
  let value: unknown;
  let started = false;
  const onStart: HandOffListener["onStart"] = (where) => {
    started = true;
    request.onStart?.(where);
  };
  try {
    value = await handOff(docker, loaded, { ...request, onStart }, { args, needsServer: false, scratch: true });
  } catch (error) {
    if (!started || error instanceof JobFailedError || request.signal?.aborted) throw error;
    throw drillError(drilled, error);
  }
  return parsed(VerifyResultSchema, value, "verdict");
}

const RestoreResultSchema = z.object({
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
  recovery: z
    .object({
      target: z.string(),
      walFiles: z.number(),
      reached: z.object({ stopLine: z.string().nullable(), lastTransactionAt: z.string().nullable(), redoDoneAt: z.string().nullable(), endedBeforeTarget: z.boolean() }),
      timeline: z.number().nullable(),
      replayedAll: z.boolean(),
    })
    .optional(),
});
export type RestoreResult = z.infer<typeof RestoreResultSchema>;

/**
 * The data half of `pgfort restore --as`: a physical backup extracted into the new server's data
 * volume (mounted into a one-off job container: the agent cannot mount it), a logical one restored
 * into the new server, running (by the agent when it runs, over its socket).
 */
export async function handOffRestore(
  docker: DockerClient,
  loaded: LoadedConfig,
  request: HandOffCommon & { id: string } & ({ dataVolume: string; dataDir: string; recovery?: RecoveryTarget | undefined; reindex?: boolean | undefined } | { server: string }),
): Promise<z.infer<typeof RestoreResultSchema>> {
  const job: Parameters<typeof handOff>[3] =
    "server" in request
      ? { args: ["restore", request.id, "--server", request.server], needsServer: false, needsNetwork: true, role: "restore" }
      : {
          args: ["restore", request.id, "--data-dir", request.dataDir, ...(request.recovery ? ["--recovery-target", JSON.stringify(request.recovery)] : []), ...(request.reindex ? ["--reindex"] : [])],
          needsServer: false,
          mounts: [{ volume: request.dataVolume, target: request.dataDir }],
          role: "restore",
        };
  return parsed(RestoreResultSchema, await handOff(docker, loaded, request, job), "restore result");
}
