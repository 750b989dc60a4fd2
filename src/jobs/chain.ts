// Extracting a physical backup for a restore or a drill: one base tar (or the parallel engine's
// bundles, extracted side by side), or an incremental chain
// (src/backup/incremental.ts) extracted link by link and combined with pg_combinebackup, so what is
// left in the data directory is a whole base backup either way. Every link's files are sha256-checked.
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { CheckFailedError, checkFiles, measuredCheck, requireIntactFiles, requirePassed, type Check, type FileSelection } from "../backup/checksums";
import { Measure } from "../backup/job";
import type { BackupFile } from "../backup/manifest";
import { chainOf, completeById } from "../backup/incremental";
import { listBackups } from "../backup/catalog";
import { backupDirectory } from "../backup/layout";
import type { BackupManifest } from "../backup/manifest";
import { planRestoreProgram, type JobProgram } from "../backup/plan";
import type { BackupTarget } from "../backup/targets/target";
import { inParallel } from "./in-parallel";

/** Runs one pgfort-job verb, stdin from the target when given (the caller's way: a step, or a scratch server's feed). */
export type VerbRunner = (program: JobProgram, input: Readable | undefined, what: string) => Promise<unknown>;

/** The backups a physical backup needs, full first; a broken chain is a failed check. */
export async function physicalChain(target: BackupTarget, manifest: BackupManifest): Promise<BackupManifest[]> {
  if (!manifest.parent) return [manifest];
  const chain = chainOf(manifest, completeById(await listBackups(target, manifest.cluster)));
  if (chain.ok) return chain.backups;
  const detail = `backup ${manifest.id} is an incremental whose chain is broken: ${chain.why}`;
  throw new CheckFailedError(detail, "restore the newest full physical backup, or one whose chain is whole (pgfort backup list)", [{ name: "incremental chain", ok: false, detail }]);
}

/**
 * The chain's base tars into `dataDir` (one link: straight in; more: each into a directory of its
 * own there, then combined). Every base file's sha256 is computed on its way into the extraction
 * (each is read once; a parallel backup's bundles side by side); the other files of the links
 * before this backup are checked first. `checks` gets all of them.
 */
export async function extractPhysical(options: {
  target: BackupTarget;
  chain: readonly BackupManifest[];
  dataDir: string;
  run: VerbRunner;
  /** What a damaged file's error tells the user to do. */
  damagedHint: string;
  secretsDir?: string;
  signal?: AbortSignal | undefined;
  /** Bundles of a parallel backup extracted at once; absent: the CPUs this process sees. */
  workers?: number;
}): Promise<Check[]> {
  const { target, chain, dataDir, run } = options;
  const checks: Check[] = [];
  const links = chain.map((manifest, index) => ({ manifest, dir: chain.length === 1 ? dataDir : path.join(dataDir, "pgfort-chain", String(index)) }));
  for (const [index, { manifest, dir }] of links.entries()) {
    const directory = backupDirectory(manifest.cluster, "physical", manifest.id);
    if (index < links.length - 1) checks.push(...(await requireIntactFiles(target, directory, manifest, "the chain is damaged: restore a full backup, or one whose chain is whole", options.signal, CHECKED_IN_STREAM)));
    // One base tar (pg_basebackup), or the parallel engine's bundles, extracted side by side.
    const bases = manifest.files.filter((file) => file.content === "base");
    if (bases.length === 0) {
      const detail = `backup ${manifest.id} has no base file`;
      throw new CheckFailedError(detail, "its manifest is not one pgfort wrote", [...checks, { name: "base file", ok: false, detail }]);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const what = chain.length === 1 ? "extracting the base backup" : `extracting ${manifest.id} (${index + 1} of ${chain.length})`;
    const extracted = await inParallel(bases, options.workers ?? availableParallelism(), async (base) => {
      const program = planRestoreProgram(base, options.secretsDir);
      return extractChecked(options, manifest, directory, base, { ...program, env: { ...program.env, PGFORT_DATA_DIR: dir } }, bases.length === 1 ? what : `${what}: ${base.name}`);
    });
    checks.push(...extracted);
  }
  if (chain.length > 1) {
    await run({ verb: "combine-chain", env: { PGFORT_DATA_DIR: dataDir, PGFORT_CHAIN_COUNT: String(chain.length) } }, undefined, "pg_combinebackup");
    checks.push({ name: "pg_combinebackup", ok: true, detail: `combined ${chain.map((manifest) => manifest.id).join(" + ")} into one base backup` });
  }
  return checks;
}

/** The files extractPhysical checks as it extracts them: what a caller's up-front check leaves out. */
export const CHECKED_IN_STREAM: FileSelection = { except: (file) => file.content === "base" };

/**
 * One base file streamed into its extraction through the sha256. When the extraction fails, or
 * the bytes seen fall short of the file (a tool that stopped reading early), the file is read
 * again on its own: damage is then a failed sha256 check, whatever the tool said about it.
 */
async function extractChecked(
  options: { target: BackupTarget; run: VerbRunner; damagedHint: string; signal?: AbortSignal | undefined },
  manifest: BackupManifest,
  directory: string,
  base: BackupFile,
  program: JobProgram,
  what: string,
): Promise<Check> {
  const measure = new Measure();
  const source = await options.target.read(`${directory}${base.name}`);
  source.once("error", (error) => measure.destroy(error));
  let failure: unknown;
  await options.run(program, source.pipe(measure), what).catch((error: unknown) => (failure = error));
  source.destroy();
  options.signal?.throwIfAborted();
  const seen = failure === undefined ? measuredCheck(base, measure) : undefined;
  if (seen?.ok) return seen;
  const [again] = await checkFiles(options.target, directory, { ...manifest, files: [base] }, options.signal);
  if (again && !again.ok) requirePassed(manifest, [again], options.damagedHint);
  if (failure !== undefined) throw failure;
  return again ?? { name: `sha256 ${base.name}`, ok: false, detail: "not read" };
}
