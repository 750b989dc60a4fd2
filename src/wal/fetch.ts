// Archived WAL back out of the target for a recovery: each file decompressed, its sha256 checked
// against the one its name holds, written whole (a temporary name, then a rename), a few at once.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BackupTarget } from "../backup/targets/target";
import { WalArchiveError } from "../errors";
import type { ArchivedWal } from "./names";

const PARALLEL_FETCHES = 4;

function decompressor(archived: ArchivedWal): { input: NodeJS.WritableStream; output: Readable; done: Promise<void> } {
  if (archived.compression === "none") {
    const through = new PassThrough();
    return { input: through, output: through, done: Promise.resolve() };
  }
  const command = archived.compression === "zstd" ? "zstd" : "lz4";
  const child = spawn(command, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.once("error", (cause) => reject(new WalArchiveError(`${command} could not run: ${cause.message}`, "the job's image must have zstd and lz4")));
    child.once("close", (code) =>
      code === 0 ? resolve() : reject(new WalArchiveError(`${command} could not decompress ${archived.key} (exit ${code ?? "signal"}): ${stderr.trim() || "no output"}`, "the archived file is damaged: restore to a point before it, or from a later base backup")),
    );
  });
  child.stdin.on("error", () => undefined);
  return { input: child.stdin, output: child.stdout, done };
}

/** One archived file to `directory/<its WAL name>`; a sha256 mismatch is an error and leaves nothing. */
export async function fetchWalFile(target: BackupTarget, archived: ArchivedWal, directory: string, signal?: AbortSignal): Promise<void> {
  const destination = path.join(directory, archived.name);
  const temporary = `${destination}.fetching`;
  const hash = createHash("sha256");
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const { input, output, done } = decompressor(archived);
  try {
    const source = await target.read(archived.key);
    await Promise.all([
      pipeline(source, input, ...(signal ? [{ signal }] : [])),
      pipeline(output, tap, createWriteStream(temporary, { mode: 0o600 }), ...(signal ? [{ signal }] : [])),
      done,
    ]);
    const sha256 = hash.digest("hex");
    if (sha256 !== archived.sha256) {
      throw new WalArchiveError(`${target.locate(archived.key)} decompresses to bytes whose sha256 is ${sha256}, not the ${archived.sha256} its name holds`, "the archived file is damaged: restore to a point before it, or from a later base backup");
    }
    await rename(temporary, destination);
  } catch (error) {
    await rm(temporary, { force: true });
    throw signal?.aborted ? signal.reason : error;
  }
}

/** Every file, PARALLEL_FETCHES at a time; the first failure stops the rest. */
export async function fetchWalFiles(target: BackupTarget, files: readonly ArchivedWal[], directory: string, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const failed = new AbortController();
  const both = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  const worker = async () => {
    while (next < files.length && !both.aborted) {
      const file = files[next++];
      if (!file) return;
      try {
        await fetchWalFile(target, file, directory, both);
      } catch (error) {
        failed.abort(error);
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(PARALLEL_FETCHES, files.length) }, worker));
  signal?.throwIfAborted();
  const failure = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failure) throw failed.signal.reason ?? failure.reason;
}
