// Storing one WAL file in the target, write-once: compressed (the backups' compression), under a
// name that holds the sha256 of the WAL file's own bytes (src/wal/names.ts), so the key says what
// the file must decompress to whatever compressor version wrote it. A file already stored with
// the same bytes is not written again (PostgreSQL archives a file again after a crash); the same
// name with other bytes is a conflict, never an overwrite. A copy under the right name that is
// not whole (a write the server kept although it broke off) is damage: said, never counted as
// stored, never written over.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Compression } from "../backup/layout";
import type { BackupTarget } from "../backup/targets/target";
import { WalArchiveError } from "../errors";
import { fetchWalFile } from "./fetch";
import { archiveKey, parseArchiveKey, walDirectory, type ArchivedWal } from "./names";
import { filterBuffer } from "./program-stage";

export interface WalCompression {
  method: Compression;
  level: number;
  /** backups.encryption's public keys: encrypted with age after compression. */
  recipients?: readonly string[] | undefined;
}

export interface StoredWal {
  key: string;
  bytes: number;
  rawBytes: number;
  /** False when the same bytes were there already. */
  written: boolean;
}

/** The compressor's argv for one WAL file: always one thread (deterministic output). */
export function compressorArgs(compression: WalCompression): string[] | undefined {
  if (compression.method === "zstd") return ["zstd", "-q", "-c", `-${compression.level}`, "-T1"];
  if (compression.method === "lz4") return ["lz4", "-q", "-c", `-${Math.min(compression.level, 12)}`];
  return undefined;
}

export async function compress(raw: Buffer, compression: WalCompression): Promise<Buffer> {
  const argv = compressorArgs(compression);
  const compressed = argv ? await filter(argv, raw, "check the agent's memory limit and its log") : raw;
  const recipients = compression.recipients ?? [];
  if (recipients.length === 0) return compressed;
  return filter(["age", ...recipients.flatMap((recipient) => ["-r", recipient])], compressed, "check backups.encryption.recipients");
}

/** One program over the whole file; a non-zero exit is a WalArchiveError with its stderr. */
function filter(argv: readonly string[], input: Buffer, hint: string): Promise<Buffer> {
  return filterBuffer(argv, input, (stderr, code) => new WalArchiveError(`${argv[0] ?? ""} failed (exit ${code ?? "signal"}): ${stderr || "no output"}`, hint));
}

export async function storeWalFile(target: BackupTarget, cluster: string, name: string, file: string, compression: WalCompression): Promise<StoredWal> {
  const raw = await readFile(file);
  const sha256 = createHash("sha256").update(raw).digest("hex");
  const listed = await target.list(`${walDirectory(cluster)}${name}.`);
  const existing = listed.flatMap((object) => {
    const archived = parseArchiveKey(cluster, object.key);
    return archived?.name === name ? [{ ...archived, bytes: object.bytes }] : [];
  });
  const same = existing.find((archived) => archived.sha256 === sha256);
  if (same) {
    const fresh = await compress(raw, compression);
    if (!(await storedWhole(target, same, same.bytes, fresh.length))) {
      throw new WalArchiveError(
        `${target.locate(same.key)} is in the archive under the right name but is not whole (${same.bytes} bytes; this file stores as ${fresh.length})`,
        "the target kept a write that broke off (a server whose writes are not atomic, or a full disk): remove that object with the prune credentials and the next attempt stores the file whole; until then this WAL file waits in pg_wal",
      );
    }
    return { key: same.key, bytes: 0, rawBytes: raw.length, written: false };
  }
  const other = existing[0];
  // The same name with other bytes: two servers wrote one timeline (a split brain), or the
  // archive is another cluster's. Stored beside it, recovery would pick one at random.
  if (other) {
    throw new WalArchiveError(
      `${name} is in the archive already with other content (${target.locate(other.key)})`,
      "two servers claim the same timeline: check that only one primary runs; the archive keeps the first file, remove it by hand only if you know it is the wrong one",
    );
  }
  const stored = await compress(raw, compression);
  const key = archiveKey(cluster, name, sha256, compression.method, (compression.recipients ?? []).length > 0);
  // One request, whole: a failed store leaves nothing to delete (write-once: no run deletes).
  await target.writeText(key, stored);
  return { key, bytes: stored.length, rawBytes: raw.length, written: true };
}

/**
 * Whether a stored copy decodes to its name's bytes. Compression with one thread and age both
 * give the same length for the same input, so a copy of the fresh copy's length is whole; another
 * length is read back when pgfort can read it (a copy by another compressor version decodes
 * right), and damaged when it cannot (encrypted: the agent holds no identity).
 */
async function storedWhole(target: BackupTarget, archived: ArchivedWal, storedBytes: number, freshBytes: number): Promise<boolean> {
  if (storedBytes === freshBytes) return true;
  if (archived.encrypted) return false;
  const scratch = await mkdtemp(path.join(os.tmpdir(), "pgfort-wal-check-"));
  try {
    await fetchWalFile(target, archived, scratch, undefined);
    return true;
  } catch (error) {
    if (error instanceof WalArchiveError) return false;
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
