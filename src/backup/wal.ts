// Reads the WAL range of a base backup from pg_basebackup --verbose. Pure.
import { BackupError } from "../errors";

const START = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/;
const END = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/;

export function parseBasebackupWal(stderr: string): { startLsn: string; endLsn: string; timeline: number } {
  const start = START.exec(stderr);
  const end = END.exec(stderr);
  if (!start?.[1] || !start[2] || !end?.[1]) {
    throw new BackupError("pg_basebackup did not report its WAL start and end points", "read its output: docker logs is off for backups; run with --json for details");
  }
  return { startLsn: start[1], endLsn: end[1], timeline: Number(start[2]) };
}
