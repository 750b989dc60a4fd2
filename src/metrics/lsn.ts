// WAL positions (pg_lsn) as text, "16/B374D848", and the byte distance between two of them. BigInt:
// an LSN is 64 bits and a float8 (pg_wal_lsn_diff's numeric read by JavaScript) loses its low bits
// past 2^53; the distance itself is small enough for a number.
import { PostgresError } from "../errors";

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The LSN as a 64-bit integer; throws PostgresError for text that is not one. */
export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text);
  if (!match?.[1] || !match[2]) throw new PostgresError(`not a WAL position: ${JSON.stringify(text)}`, "expected the text of a pg_lsn, e.g. 16/B374D848");
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** Bytes from `from` to `to`, never below 0 (a replica that reports a position ahead of a stale read is not behind). */
export function lsnDistanceBytes(from: string, to: string): number {
  const distance = parseLsn(to) - parseLsn(from);
  return distance > 0n ? Number(distance) : 0;
}
