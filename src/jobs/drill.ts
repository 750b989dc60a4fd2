// The restore drill inside a job container of the agent image, with no Docker: the sha256 of every
// file read from the target, then a scratch PostgreSQL server as a child process in a scratch
// directory. Physical: the base tar streamed from the target into its data directory,
// pg_verifybackup, recovery to consistency (the backup's WAL is in the tar). Logical: a new cluster,
// globals and every database restored from the target. Then pg_amcheck over every database, row
// counts against the manifest (logical), and the server stopped and its directory removed, always.
// The verdict is the one of `pgfort backup verify` (src/backup/drill-outcome.ts).
import os from "node:os";
import type { LoadedConfig } from "../config/load";
import { BackupError, DecryptionError } from "../errors";
import { amcheckCommand, amcheckVerdict } from "../backup/amcheck";
import { CheckFailedError, requireIntactFiles, type Check } from "../backup/checksums";
import { checksOfFailure, drillError, writeVerdict, type VerifyResult } from "../backup/drill-outcome";
import type { BackupManifest } from "../backup/manifest";
import { planRestoreProgram, ROW_COUNT_QUERY } from "../backup/plan";
import { compareRowCounts } from "../backup/row-counts";
import type { BackupTarget } from "../backup/targets/target";
import { renderSettings, scratchSettings } from "./scratch-settings";
import { readLimits } from "./limits";
import { ScratchServer, type ScratchServerOptions } from "./scratch-server";
import { describeTarget, type RecoveryTarget } from "../wal/recovery-target";
import { recoverToTarget } from "./recover";
import { CHECKED_IN_STREAM, extractPhysical, physicalChain } from "./chain";
import { checkCollations } from "./collation";
import { z } from "zod";

export interface VerifyInJobOptions {
  loaded: LoadedConfig;
  target: BackupTarget;
  /** The backup's directory in the target, with a trailing slash (backupDirectory()). */
  directory: string;
  manifest: BackupManifest;
  /** Where the scratch server lives (AGENT_SCRATCH_DIR): a volume, never the read-only root. */
  scratchDir: string;
  onInfo?(message: string): void;
  /** Aborting stops the drill: the scratch server is killed, its directory removed, no verdict written. */
  signal?: AbortSignal;
  /** `pgfort-job` on PATH in the image; a path in tests. */
  jobCommand?: string;
  /** A PITR drill (backup verify --pitr): after the base, archived WAL replayed to this point. */
  recovery?: RecoveryTarget | undefined;
}

export async function verifyInJob(options: VerifyInJobOptions): Promise<VerifyResult> {
  const { manifest, signal } = options;
  const serverOptions = { scratchDir: options.scratchDir, signal, recipients: manifest.encryption?.recipients, ...(options.jobCommand ? { command: options.jobCommand } : {}) };
  let checks: Check[];
  let server: ScratchServer | undefined;
  try {
    server = await prepareScratch(options, serverOptions);
    checks = await runDrill(options, server);
  } catch (error) {
    // An interrupted drill is no verdict: nothing is written.
    if (signal?.aborted) throw signal.reason;
    if (!(error instanceof CheckFailedError)) throw drillError(manifest.id, error);
    checks = checksOfFailure(error);
  } finally {
    try {
      await server?.remove(signal?.aborted ? "immediate" : "fast");
    } catch (error) {
      // Nothing of it may stay behind; a server that would not stop is gone with the container.
      if (!signal?.aborted) throw drillError(manifest.id, error);
    }
  }
  signal?.throwIfAborted();
  return writeVerdict(options.target, options.directory, manifest.id, checks);
}

/** The leftovers of killed drills removed, then a new directory for this one. */
async function prepareScratch(options: VerifyInJobOptions, serverOptions: ScratchServerOptions): Promise<ScratchServer> {
  try {
    const swept = await ScratchServer.sweepStale(serverOptions);
    if (swept.length > 0) options.onInfo?.(`removed ${swept.length} scratch director${swept.length === 1 ? "y" : "ies"} of drills that were killed: ${swept.join(", ")}`);
    return await ScratchServer.create(serverOptions);
  } catch (error) {
    throw new BackupError(`the scratch directory ${options.scratchDir} cannot be used: ${(error as Error).message}`, "the job container needs a writable volume there (the agent's scratch volume)", { cause: error });
  }
}

async function runDrill(options: VerifyInJobOptions, server: ScratchServer): Promise<Check[]> {
  const { target, directory, manifest, signal } = options;
  const damagedHint = "verify another backup (pgfort backup list)";
  // Physical: the base files are checked as they are extracted (read once), the others first.
  const checks = await requireIntactFiles(target, directory, manifest, damagedHint, signal, manifest.kind === "physical" ? CHECKED_IN_STREAM : {});
  signal?.throwIfAborted();
  const limits = await readLimits();
  const settings = renderSettings(scratchSettings({ ...limits, fallbackBytes: os.totalmem() }));
  options.onInfo?.(`${manifest.kind === "physical" ? "restoring (each file's sha256 checked on its way)" : `checksums of ${manifest.files.length} file(s) match; restoring`} into a scratch server in ${server.dir} (shared_buffers ${/shared_buffers = '([^']+)'/.exec(settings)?.[1]}, fsync off)`);
  try {
    if (manifest.kind === "physical") {
      const chain = await physicalChain(target, manifest);
      await server.makeDataDir();
      checks.push(...(await extractPhysical({ target, chain, dataDir: server.dataDir, damagedHint, signal, run: (program, input, what) => server.feed(program, input, what, { check: what }) })));
      await server.feed({ verb: "verify-base", env: { PGFORT_DATA_DIR: server.dataDir } }, undefined, "pg_verifybackup", { check: "pg_verifybackup" });
      checks.push({ name: "pg_verifybackup", ok: true, detail: "the extracted files and WAL match the backup's own manifest" });
      if (options.recovery) checks.push(await replayInDrill(options, options.recovery, server));
      options.onInfo?.(options.recovery ? "starting the scratch server on the recovered data" : "starting the scratch server: recovery to consistency with the backup's own WAL");
      await server.start(settings, { check: "server starts" });
      checks.push({ name: "server starts", ok: true, detail: "recovered to consistency and accepted connections on its Unix socket" });
      checks.push(...(await drillCollations(manifest, server, options.onInfo)));
    } else {
      await server.init(process.env.LANG);
      await server.start(settings, {}); // a new cluster that does not start says nothing of the backup
      checks.push({ name: "server starts", ok: true, detail: "a new cluster (data checksums on) accepted connections on its Unix socket" });
      for (const file of manifest.files) {
        options.onInfo?.(`restoring ${file.name}`);
        await server.feed(planRestoreProgram(file), await target.read(`${directory}${file.name}`), `restoring ${file.name}`, { check: `restoring ${file.name}` });
      }
    }
    signal?.throwIfAborted();
    options.onInfo?.("running pg_amcheck over every database of the scratch server");
    const amcheck = await server.tool(amcheckCommand(limits.jobs));
    checks.push(amcheckVerdict(amcheck.exitCode, amcheck.stdout, amcheck.stderr));
    if (manifest.kind === "logical") checks.push(...compareRowCounts(manifest, await countRows(server, manifest.databases)));
    return checks;
  } catch (error) {
    // A failed step's verdict keeps the checks that passed before it (the checksums).
    if (error instanceof CheckFailedError) throw new CheckFailedError(error.message, error.hint, [...checks, ...error.checks]);
    throw error;
  }
}

const ReindexResult = z.object({ reindexed: z.number() });

/**
 * A backup indexed under other collation rules than this image's C library restores only with
 * --reindex: the drill does what that restore does (rebuilds the indexes on the scratch server,
 * before pg_amcheck reads them) and says so, so a passed drill is the restore the user would run.
 */
async function drillCollations(manifest: BackupManifest, server: ScratchServer, onInfo: ((message: string) => void) | undefined): Promise<Check[]> {
  const mismatches = await checkCollations(manifest, true);
  if (mismatches.length === 0) return [];
  const which = mismatches.map((mismatch) => `${mismatch.database} (${mismatch.recorded ?? "?"})`).join(", ");
  const library = mismatches[0]?.actual ?? "?";
  onInfo?.(`collation versions differ from this image's (glibc ${library}): ${which}; rebuilding the indexes that depend on them, as restore --reindex does`);
  const rebuilt = ReindexResult.parse(await server.feed({ verb: "reindex-collations", env: {} }, undefined, "rebuilding the indexes that depend on collation rules", { check: "collation" }));
  return [{ name: "collation", ok: true, detail: `indexed under other collation rules than glibc ${library} (${which}): rebuilt ${rebuilt.reindexed} index(es) as restore --reindex does; restore this backup with --reindex` }];
}

/** The archived WAL replayed to the drill's point: a check, failed when the archive does not get there. */
async function replayInDrill(options: VerifyInJobOptions, recovery: RecoveryTarget, server: ScratchServer): Promise<Check> {
  const name = "point-in-time recovery";
  try {
    const outcome = await recoverToTarget({
      target: options.target,
      manifest: options.manifest,
      dataDir: server.dataDir,
      recovery,
      scratchDir: options.scratchDir,
      jobCommand: options.jobCommand,
      onInfo: options.onInfo,
      signal: options.signal,
    });
    const { reached } = outcome;
    return { name, ok: true, detail: `replayed ${outcome.walFiles} archived WAL file(s) to ${outcome.target}: ${reached.stopLine ?? "end of the archive"}; last transaction ${reached.lastTransactionAt ?? "none"}` };
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    // A wrong or missing identity says nothing of the backup or the archive: no verdict.
    if (error instanceof DecryptionError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CheckFailedError(`point-in-time recovery to ${describeTarget(recovery)} failed: ${message}`, "the base backup or the WAL archive does not restore to this point", [{ name, ok: false, detail: message }]);
  }
}

/** Rows per table of each database, with the query the backup's manifest counted them with. */
async function countRows(server: ScratchServer, databases: readonly string[]): Promise<Record<string, Record<string, number>>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const database of databases) {
    const run = await server.tool(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", ROW_COUNT_QUERY]);
    if (run.exitCode !== 0) throw new BackupError(`counting the rows of ${database} failed (exit ${run.exitCode}): ${run.stderr.trim()}`, "the scratch server may have stopped; run the drill again");
    counts[database] = parseCounts(run.stdout);
  }
  return counts;
}

function parseCounts(text: string): Record<string, number> {
  const parsed: unknown = JSON.parse(text.trim());
  if (typeof parsed !== "object" || parsed === null) throw new BackupError(`the row-count query answered ${text.slice(0, 200)}`, "report it: the query returns one JSON object");
  return Object.fromEntries(Object.entries(parsed).map(([table, rows]) => [table, Number(rows)]));
}

