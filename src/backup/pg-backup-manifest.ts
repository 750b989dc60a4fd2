// A PostgreSQL backup_manifest (format version 1, as pg_basebackup writes it) for a backup the
// parallel engine took: every copied file with its size, the WAL range, and the manifest's own
// SHA-256 over everything before its last line. pg_verifybackup then checks a restored data
// directory against it (every file present, no extra, sizes equal, the WAL range parses) exactly as
// it checks pg_basebackup's. No per-file checksums: each bundle's sha256 covers the bytes. Pure.
import { createHash } from "node:crypto";

export interface ManifestFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface ManifestWalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

function gmt(mtimeMs: number): string {
  return `${new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString().slice(0, 19).replace("T", " ")} GMT`;
}

export function renderPgBackupManifest(files: readonly ManifestFile[], wal: ManifestWalRange): string {
  const entries = files.map((file) => `{ "Path": ${JSON.stringify(file.path)}, "Size": ${file.size}, "Last-Modified": "${gmt(file.mtimeMs)}" }`);
  const body =
    `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${entries.join(",\n")}\n],\n` +
    `"WAL-Ranges": [\n{ "Timeline": ${wal.timeline}, "Start-LSN": "${wal.startLsn}", "End-LSN": "${wal.endLsn}" }\n],\n`;
  return `${body}"Manifest-Checksum": "${createHash("sha256").update(body).digest("hex")}"}\n`;
}
