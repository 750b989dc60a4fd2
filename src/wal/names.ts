// WAL file names, segment arithmetic, and where archived files live in the target. Pure.
//
// Layout, the same under file:// and s3:// (write-once: the name holds the WAL file's sha256, so
// storing a file again writes nothing new, and nothing is ever rewritten in place):
//   <prefix>/<cluster>/wal/<WAL file name>.<sha256 of the WAL file's bytes><compression suffix>[.age]
// e.g. app/wal/000000010000000000000003.9f86d0…0a08.zst, app/wal/00000002.history.<sha256>.zst.
import { compressionSuffix, ENCRYPTION_SUFFIX, type Compression } from "../backup/layout";
import { parseLsn } from "../metrics/lsn";

/** PostgreSQL's default and pgfort's (initdb is never given --wal-segsize). */
export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
const SEGMENTS_PER_XLOGID = 0x1_0000_0000 / WAL_SEGMENT_BYTES;

export type WalFileKind = "segment" | "partial" | "history" | "backup";

export interface WalFile {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** Segment number (LSN / segment size); for a history file, undefined. */
  segment?: bigint;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** A WAL file name PostgreSQL hands to archive_command; undefined for anything else. */
export function parseWalFileName(name: string): WalFile | undefined {
  const history = HISTORY.exec(name);
  if (history) return { name, kind: "history", timeline: parseInt(history[1] ?? "", 16) };
  const match = SEGMENT.exec(name);
  if (!match) return undefined;
  const [, timeline = "", log = "", seg = "", suffix] = match;
  if (parseInt(seg, 16) >= SEGMENTS_PER_XLOGID) return undefined;
  const kind: WalFileKind = suffix === undefined ? "segment" : suffix === ".partial" ? "partial" : "backup";
  return { name, kind, timeline: parseInt(timeline, 16), segment: BigInt(`0x${log}`) * BigInt(SEGMENTS_PER_XLOGID) + BigInt(`0x${seg}`) };
}

export function segmentOfLsn(lsn: string): bigint {
  return parseLsn(lsn) / BigInt(WAL_SEGMENT_BYTES);
}

/** The LSN where a segment starts, as PostgreSQL prints it. */
export function segmentStartLsn(segment: bigint): string {
  const position = segment * BigInt(WAL_SEGMENT_BYTES);
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

export function segmentFileName(timeline: number, segment: bigint): string {
  const hex = (value: bigint | number) => value.toString(16).toUpperCase().padStart(8, "0");
  return `${hex(timeline)}${hex(segment / BigInt(SEGMENTS_PER_XLOGID))}${hex(segment % BigInt(SEGMENTS_PER_XLOGID))}`;
}

export function walDirectory(cluster: string): string {
  return `${cluster}/wal/`;
}

export interface ArchivedWal extends WalFile {
  key: string;
  sha256: string;
  compression: Compression;
  /** Encrypted with age after compression (backups.encryption). */
  encrypted: boolean;
}

export function archiveKey(cluster: string, name: string, sha256: string, compression: Compression, encrypted = false): string {
  return `${walDirectory(cluster)}${name}.${sha256}${compressionSuffix(compression)}${encrypted ? ENCRYPTION_SUFFIX : ""}`;
}

const ARCHIVED = /^(.+)\.([0-9a-f]{64})(\.zst|\.lz4)?(\.age)?$/;

/** An archived WAL file from its key (relative to the target root); undefined for other keys. */
export function parseArchiveKey(cluster: string, key: string): ArchivedWal | undefined {
  const directory = walDirectory(cluster);
  if (!key.startsWith(directory)) return undefined;
  const match = ARCHIVED.exec(key.slice(directory.length));
  if (!match) return undefined;
  const [, name = "", sha256 = "", suffix, sealed] = match;
  const file = parseWalFileName(name);
  if (!file) return undefined;
  const compression: Compression = suffix === ".zst" ? "zstd" : suffix === ".lz4" ? "lz4" : "none";
  return { ...file, key, sha256, compression, encrypted: sealed !== undefined };
}
