// PostgreSQL's data page checksum (src/include/storage/checksum_impl.h: 32 parallel FNV-1a-like
// lanes over the 8 KiB page as little-endian 32-bit words, pd_checksum counted as zero, two more
// rounds of zeros, XOR-folded, mixed with the block number, reduced to 1..65535), and the check the
// parallel engine runs on every page it reads, as pg_basebackup and pgBackRest do. Pure.

export const PAGE_SIZE = 8192;
/** Blocks per relation segment file (1 GiB / 8 KiB): block numbers continue across `.1`, `.2`... */
export const BLOCKS_PER_SEGMENT = 131072;
const WORDS_PER_PAGE = PAGE_SIZE / 4;
const N_SUMS = 32;
const FNV_PRIME = 16777619;
const BASE_OFFSETS = Int32Array.from([
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c, 0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
  0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4, 0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
]);
const sums = new Int32Array(N_SUMS);

/** The checksum PostgreSQL computes for the page at `words[first..first+2048)` as block `blkno`. */
export function pageChecksum(words: Uint32Array, first: number, blkno: number): number {
  sums.set(BASE_OFFSETS);
  for (let row = 0; row < WORDS_PER_PAGE; row += N_SUMS) {
    const at = first + row;
    for (let lane = 0; lane < N_SUMS; lane++) {
      // Word 2 holds pd_checksum (its low half on a little-endian machine) and pd_flags.
      const value = row === 0 && lane === 2 ? words[at + lane]! & 0xffff0000 : words[at + lane]!;
      const tmp = sums[lane]! ^ value;
      sums[lane] = Math.imul(tmp, FNV_PRIME) ^ (tmp >>> 17);
    }
  }
  let result = 0;
  for (let lane = 0; lane < N_SUMS; lane++) {
    for (let round = 0; round < 2; round++) {
      const tmp = sums[lane]!;
      sums[lane] = Math.imul(tmp, FNV_PRIME) ^ (tmp >>> 17);
    }
    result ^= sums[lane]!;
  }
  return ((((result ^ blkno) >>> 0) % 65535) + 1) & 0xffff;
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
