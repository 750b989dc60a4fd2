// Extracting a physical backup for a restore or a drill: one base tar (or the parallel engine's
// bundles, extracted side by side), or an incremental chain
// (src/backup/incremental.ts) extracted link by link and combined with pg_combinebackup, so what is
// left in the data directory is a whole base backup either way. Every link's files are sha256-checked.
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { CheckFailedError, requireIntactFiles, type Check } from "../backup/checksums";
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
 * own there, then combined). `checks` gets the sha256 checks of the links before this backup.
 */
export async function extractPhysical(options: {
  target: BackupTarget;
  chain: readonly BackupManifest[];
  dataDir: string;
  run: VerbRunner;
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
    if (index < links.length - 1) checks.push(...(await requireIntactFiles(target, directory, manifest, "the chain is damaged: restore a full backup, or one whose chain is whole", options.signal)));
    // One base tar (pg_basebackup), or the parallel engine's bundles, extracted side by side.
    const bases = manifest.files.filter((file) => file.content === "base");
    if (bases.length === 0) {
      const detail = `backup ${manifest.id} has no base file`;
      throw new CheckFailedError(detail, "its manifest is not one pgfort wrote", [...checks, { name: "base file", ok: false, detail }]);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const what = chain.length === 1 ? "extracting the base backup" : `extracting ${manifest.id} (${index + 1} of ${chain.length})`;
    await inParallel(bases, options.workers ?? availableParallelism(), async (base) => {
      const program = planRestoreProgram(base, options.secretsDir);
      await run({ ...program, env: { ...program.env, PGFORT_DATA_DIR: dir } }, await target.read(`${directory}${base.name}`), bases.length === 1 ? what : `${what}: ${base.name}`);
    });
  }
  if (chain.length > 1) {
    await run({ verb: "combine-chain", env: { PGFORT_DATA_DIR: dataDir, PGFORT_CHAIN_COUNT: String(chain.length) } }, undefined, "pg_combinebackup");
    checks.push({ name: "pg_combinebackup", ok: true, detail: `combined ${chain.map((manifest) => manifest.id).join(" + ")} into one base backup` });
  }
  return checks;
}
