// Archived WAL back out of the target for a recovery: each file decompressed, its sha256 checked
// against the one its name holds, written whole (a temporary name, then a rename), a few at once.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BackupTarget } from "../backup/targets/target";
import { DecryptionError, WalArchiveError } from "../errors";
import { programStage, type ProgramStage } from "./program-stage";
import type { ArchivedWal } from "./names";

const PARALLEL_FETCHES = 4;

export interface WalDecryption {
  /** The identity file (private keys) in the job container. */
  identityFile: string;
  /** The public keys the archive was written with, as far as pgfort knows them: named when the identity fits none. */
  recipients?: readonly string[] | undefined;
}

/** The stages that turn a stored file back into WAL: age -d (when encrypted), then the decompressor. */
function decoders(archived: ArchivedWal, decryption: WalDecryption | undefined, location: string): ProgramStage[] {
  const stages: ProgramStage[] = [];
  if (archived.encrypted) {
    if (!decryption) throw new DecryptionError(`${location} is encrypted and no identity is configured`, "set backups.encryption.identityFile to the identity (private key) of its recipients");
    stages.push(
      programStage(["age", "-d", "-i", decryption.identityFile], (stderr) =>
        /no identity matched/.test(stderr)
          ? new DecryptionError(
              `cannot decrypt ${location}: the identity in backups.encryption.identityFile is not one of the keys it was encrypted to${decryption.recipients?.length ? ` (${decryption.recipients.join(", ")})` : ""}`,
              "set backups.encryption.identityFile to the identity of one of those recipients (age-keygen -y FILE prints an identity's public key); one file may hold several identities",
            )
          : /no such file|permission denied/i.test(stderr)
            ? new DecryptionError(`cannot decrypt ${location}: the identity file ${decryption.identityFile} cannot be read (${stderr})`, "set backups.encryption.identityFile and run pgfort up")
            : new WalArchiveError(`age could not decrypt ${location}: ${stderr || "no output"}`, "the archived file is damaged"),
      ),
    );
  }
  if (archived.compression !== "none") {
    const command = archived.compression === "zstd" ? "zstd" : "lz4";
    stages.push(
      programStage([command, "-dc"], (stderr, code) => new WalArchiveError(`${command} could not decompress ${location} (exit ${code ?? "signal"}): ${stderr || "no output"}`, "the archived file is damaged: restore to a point before it, or from a later base backup")),
    );
  }
  return stages;
}

/** One archived file to `directory/<its WAL name>`; a sha256 mismatch is an error and leaves nothing. */
export async function fetchWalFile(target: BackupTarget, archived: ArchivedWal, directory: string, decryption: WalDecryption | undefined, signal?: AbortSignal): Promise<void> {
  const destination = path.join(directory, archived.name);
  const temporary = `${destination}.fetching`;
  const hash = createHash("sha256");
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    const stages = decoders(archived, decryption, target.locate(archived.key));
    const source = await target.read(archived.key);
    const streams = [source, ...stages.map((one) => one.duplex), tap, createWriteStream(temporary, { mode: 0o600 })] as const;
    // A stage's own error (its exit status, its stderr) says more than the broken pipe it causes.
    const [flowed, ...exits] = await Promise.allSettled([pipeline([...streams], ...(signal ? [{ signal }] : [])), ...stages.map((one) => one.done)]);
    const failedStage = exits.find((exit): exit is PromiseRejectedResult => exit.status === "rejected");
    if (failedStage) throw failedStage.reason;
    if (flowed?.status === "rejected") throw flowed.reason;
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
export async function fetchWalFiles(target: BackupTarget, files: readonly ArchivedWal[], directory: string, decryption: WalDecryption | undefined, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const failed = new AbortController();
  const both = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  const worker = async () => {
    while (next < files.length && !both.aborted) {
      const file = files[next++];
      if (!file) return;
      try {
        await fetchWalFile(target, file, directory, decryption, both);
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
