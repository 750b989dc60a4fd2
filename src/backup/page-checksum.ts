// PostgreSQL's data page checksum (src/include/storage/checksum_impl.h: 32 parallel FNV-1a-like
// lanes over the 8 KiB page as little-endian 32-bit words, pd_checksum counted as zero, two more
// rounds of zeros, XOR-folded, mixed with the block number, reduced to 1..65535; computed by
// page-checksum-wasm.ts), and the check the parallel engine runs on every page it reads, as
// pg_basebackup and pgBackRest do. Pure.

import { checksumModule, CHUNK_CAPACITY, CHUNK_OFFSET, SCRATCH_OFFSET } from "./page-checksum-wasm";

export const PAGE_SIZE = 8192;
/** Blocks per relation segment file (1 GiB / 8 KiB): block numbers continue across `.1`, `.2`... */
export const BLOCKS_PER_SEGMENT = 131072;
const WORDS_PER_PAGE = PAGE_SIZE / 4;

/**
 * The checksum PostgreSQL computes for the page at `words[first..first+2048)` as block `blkno`
 * (WebAssembly SIMD, page-checksum-wasm.ts). A page outside the module's memory is copied in first;
 * one inside it (a chunk read into checksumChunk()) is checked where it lies.
 */
export function pageChecksum(words: Uint32Array, first: number, blkno: number): number {
  const wasm = checksumModule();
  if (words.buffer === wasm.memory.buffer) return wasm.checksum(words.byteOffset + first * 4, blkno >>> 0);
  new Uint32Array(wasm.memory.buffer, SCRATCH_OFFSET, WORDS_PER_PAGE).set(words.subarray(first, first + WORDS_PER_PAGE));
  return wasm.checksum(SCRATCH_OFFSET, blkno >>> 0);
}

/** A buffer in the checksum module's memory (this thread's one; at most CHUNK_CAPACITY bytes): pages read into it are checked in place. */
export function checksumChunk(bytes: number): Buffer {
  if (bytes > CHUNK_CAPACITY) throw new Error(`checksumChunk: at most ${CHUNK_CAPACITY} bytes`);
  return Buffer.from(checksumModule().memory.buffer, CHUNK_OFFSET, bytes);
}

/** What a page's header says: its LSN as one number (exact below 2^53) and its stored checksum. */
function pageLsn(words: Uint32Array, first: number): number {
  // pd_lsn is {xlogid, xrecoff}: the high half first.
  return words[first]! * 2 ** 32 + words[first + 1]!;
}

function isAllZero(words: Uint32Array, first: number): boolean {
  for (let index = first; index < first + WORDS_PER_PAGE; index++) if (words[index] !== 0) return false;
  return true;
}

export interface PageFailure {
  /** Block number in the relation (segment × 131072 + block in the file). */
  block: number;
  calculated: number;
  expected: number;
}

/**
 * The pages of `chunk` (whole pages, the first being block `firstBlock`) whose checksum fails.
 * Skipped, as pgBackRest and pg_basebackup skip them: all-zero pages (extended, never written) and
 * pages whose LSN is at or after the backup's start (written during the backup: WAL replay
 * rewrites them, and a torn read of one is expected). `startLsn` as pageLsn counts it.
 */
export function failingPages(chunk: Buffer, firstBlock: number, startLsn: number): PageFailure[] {
  if (chunk.byteOffset % 4 !== 0 || chunk.length % PAGE_SIZE !== 0) throw new Error("failingPages needs whole pages on a 4-byte boundary");
  const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
  const failures: PageFailure[] = [];
  for (let first = 0, block = firstBlock; first < words.length; first += WORDS_PER_PAGE, block++) {
    if (pageLsn(words, first) >= startLsn) continue;
    const expected = words[first + 2]! & 0xffff;
    // A new page has no header (pd_upper 0): all zero is fine, anything else a damaged page.
    if (expected === 0 && isAllZero(words, first)) continue;
    const calculated = pageChecksum(words, first, block);
    if (calculated !== expected) failures.push({ block, calculated, expected });
  }
  return failures;
}

/** An LSN as PostgreSQL prints it (`16/B374D848`) as one number, for failingPages. */
export function lsnNumber(lsn: string): number {
  const match = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(lsn);
  if (!match) throw new Error(`not an LSN: ${lsn}`);
  return Number.parseInt(match[1]!, 16) * 2 ** 32 + Number.parseInt(match[2]!, 16);
}
