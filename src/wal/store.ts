// Storing one WAL file in the target, write-once: compressed (the backups' compression), under a
// name that holds the sha256 of the WAL file's own bytes (src/wal/names.ts), so the key says what
// the file must decompress to whatever compressor version wrote it. A file already stored with
// the same bytes is not written again (PostgreSQL archives a file again after a crash); the same
// name with other bytes is a conflict, never an overwrite.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Compression } from "../backup/layout";
import type { BackupTarget } from "../backup/targets/target";
import { WalArchiveError } from "../errors";
import { archiveKey, parseArchiveKey, walDirectory } from "./names";
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
  const existing = (await target.list(`${walDirectory(cluster)}${name}.`)).flatMap((object) => parseArchiveKey(cluster, object.key) ?? []).filter((archived) => archived.name === name);
  const same = existing.find((archived) => archived.sha256 === sha256);
  if (same) return { key: same.key, bytes: 0, rawBytes: raw.length, written: false };
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
