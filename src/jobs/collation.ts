// The collation guard of a physical restore (issue 12): a backup whose databases were sorted under
// another C library's collation rules than this image's is refused, or, asked to (--reindex),
// restored and then fixed on a private server before the new server takes writes: the indexes the
// library orders rebuilt, each database's collation version refreshed.
import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { z } from "zod";
import { BackupError } from "../errors";
import type { BackupManifest } from "../backup/manifest";
import { libcMismatches, parseLibcVersion, type CollationMismatch } from "../collation/versions";
import { putBackAutoConf, restoredServerSettings } from "./recover";
import { ScratchServer } from "./scratch-server";
import { renderSettings } from "./scratch-settings";

/** This container's C library version (`getconf GNU_LIBC_VERSION`): the rules the restored server will sort by. */
export async function libcVersion(): Promise<string> {
  const { stdout } = await promisify(execFile)("getconf", ["GNU_LIBC_VERSION"]).catch((error: unknown) => {
    throw new BackupError(`cannot tell this image's C library version: ${error instanceof Error ? error.message : String(error)}`, "the job's image must have getconf (Debian's libc-bin)");
  });
  const version = parseLibcVersion(stdout);
  if (!version) throw new BackupError(`getconf GNU_LIBC_VERSION said "${stdout.trim()}", not a glibc version`, "pgfort's images are Debian's, with glibc");
  return version;
}

/**
 * The databases of the backup this image would read under other collation rules; throws, naming
 * them, when there are any and no --reindex. A backup from before collation records has none.
 */
export async function checkCollations(manifest: BackupManifest, reindex: boolean): Promise<CollationMismatch[]> {
  if (!manifest.collation) return [];
  const now = await libcVersion();
  const mismatches = libcMismatches(manifest.collation, now);
  if (mismatches.length === 0 || reindex) return mismatches;
  const which = mismatches.map((mismatch) => `${mismatch.database} (${mismatch.recorded ?? "?"})`).join(", ");
  throw new BackupError(
    `backup ${manifest.id} holds databases sorted under other collation rules than this image's C library (glibc ${now}): ${which}; their text indexes could silently miss rows here`,
    "restore it with --reindex: the indexes that depend on the C library are rebuilt and each database's collation version refreshed before the server takes writes (nothing was restored)",
  );
}

const ReindexResult = z.object({ reindexed: z.number(), databases: z.number() });

/** On the restored data directory, before the new server starts: rebuild, refresh, stop cleanly. */
export async function reindexCollations(options: { dataDir: string; jobCommand?: string | undefined; signal?: AbortSignal | undefined }): Promise<z.infer<typeof ReindexResult>> {
  const server = await ScratchServer.on(options.dataDir, { scratchDir: os.tmpdir(), signal: options.signal, ...(options.jobCommand ? { command: options.jobCommand } : {}) });
  try {
    await server.start(renderSettings(await restoredServerSettings()), {});
    const result = ReindexResult.parse(await server.feed({ verb: "reindex-collations", env: {} }, undefined, "rebuilding the indexes that depend on collation rules", {}));
    await server.remove("fast");
    await putBackAutoConf(options.dataDir);
    return result;
  } catch (error) {
    await server.remove("immediate").catch(() => undefined);
    throw options.signal?.aborted ? options.signal.reason : error;
  }
}
