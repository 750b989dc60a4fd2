// PostgreSQL's page checksum as a WebAssembly SIMD function, emitted here as bytes (no toolchain,
// no binary in the repository). The algorithm's 32 lanes are eight 4-lane vectors: one vector
// multiply, shift and two XORs per 16 bytes, the 64 rows unrolled, so a page costs about what
// reading it does (measured: ~4× the fastest plain JavaScript). checksum(ptr, blkno) reads the page at
// `ptr` in the module's memory, counting pd_checksum as zero, and returns what PostgreSQL stores.

const FNV_PRIME = 16777619;
const BASE_OFFSETS = [
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c, 0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
  0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4, 0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
];
const PAGE_SIZE = 8192;
/** 64 KiB pages of linear memory: a scratch page at 0, then the caller's chunk area. */
const MEMORY_PAGES = 18;
export const SCRATCH_OFFSET = 0;
export const CHUNK_OFFSET = PAGE_SIZE;
export const CHUNK_CAPACITY = MEMORY_PAGES * 65536 - CHUNK_OFFSET;

function unsigned(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function signed(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) return [...bytes, byte];
    bytes.push(byte | 0x80);
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsigned(content.length), ...content];
}

function name(text: string): number[] {
  return [...unsigned(text.length), ...Buffer.from(text, "ascii")];
}

function v128Const(lanes: readonly number[]): number[] {
  const bytes = Buffer.alloc(16);
  lanes.forEach((lane, index) => bytes.writeUInt32LE(lane >>> 0, index * 4));
  return [0xfd, 0x0c, ...bytes];
}

// Locals: 0 ptr, 1 blkno (params); 2..9 the eight sum vectors; 10 tmp; 11 the prime, splatted.
const PTR = 0;
const BLKNO = 1;
const SUM = 2;
const TMP = 10;
const PRIME = 11;
const get = (local: number) => [0x20, local];
const set = (local: number) => [0x21, local];
const tee = (local: number) => [0x22, local];
const V128_XOR = [0xfd, 0x51];
const V128_AND = [0xfd, 0x4e];
const I32X4_MUL = [0xfd, 0xb5, 0x01];
const I32X4_SHR_U = [0xfd, 0xad, 0x01];

/** sum = (tmp * prime) ^ (tmp >>> 17), with tmp on the stack. */
function mix(vector: number): number[] {
  return [...tee(TMP), ...get(PRIME), ...I32X4_MUL, ...get(TMP), 0x41, ...signed(17), ...I32X4_SHR_U, ...V128_XOR, ...set(SUM + vector)];
}

function checksumBody(): number[] {
  const code: number[] = [];
  code.push(0x41, ...signed(FNV_PRIME), 0xfd, 0x11, ...set(PRIME)); // i32x4.splat
  for (let vector = 0; vector < 8; vector++) code.push(...v128Const(BASE_OFFSETS.slice(vector * 4, vector * 4 + 4)), ...set(SUM + vector));
  for (let row = 0; row < PAGE_SIZE / 128; row++) {
    for (let vector = 0; vector < 8; vector++) {
      code.push(...get(PTR), 0xfd, 0x00, 0x00, ...unsigned(row * 128 + vector * 16)); // v128.load align=1
      // pd_checksum: the low half of the page's third word, counted as zero.
      if (row === 0 && vector === 0) code.push(...v128Const([0xffffffff, 0xffffffff, 0xffff0000, 0xffffffff]), ...V128_AND);
      code.push(...get(SUM + vector), ...V128_XOR, ...mix(vector));
    }
  }
  for (let round = 0; round < 2; round++) for (let vector = 0; vector < 8; vector++) code.push(...get(SUM + vector), ...mix(vector));
  code.push(...get(SUM));
  for (let vector = 1; vector < 8; vector++) code.push(...get(SUM + vector), ...V128_XOR);
  code.push(...set(TMP));
  for (let lane = 0; lane < 4; lane++) {
    code.push(...get(TMP), 0xfd, 0x1b, lane); // i32x4.extract_lane
    if (lane > 0) code.push(0x73); // i32.xor
  }
  code.push(...get(BLKNO), 0x73, 0x41, ...signed(65535), 0x70, 0x41, 0x01, 0x6a, 0x0b); // ^ blkno, rem_u, + 1, end
  return [...unsigned(1), 10, 0x7b, ...code]; // one run of 10 v128 locals
}

/** The module's bytes: memory (exported), checksum(i32 ptr, i32 blkno) -> i32. */
export function checksumModuleBytes(): Uint8Array<ArrayBuffer> {
  const body = checksumBody();
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x01, ...unsigned(MEMORY_PAGES), ...unsigned(MEMORY_PAGES)]),
    ...section(7, [2, ...name("memory"), 0x02, 0, ...name("checksum"), 0x00, 0]),
    ...section(10, [1, ...unsigned(body.length), ...body]),
  ]);
}

export interface ChecksumModule {
  memory: WebAssembly.Memory;
  checksum(ptr: number, blkno: number): number;
}

let instance: ChecksumModule | undefined;

/** One instance per thread, made on first use (synchronously: the module is small). */
export function checksumModule(): ChecksumModule {
  if (!instance) {
    const made = new WebAssembly.Instance(new WebAssembly.Module(checksumModuleBytes()));
    instance = made.exports as unknown as ChecksumModule;
  }
  return instance;
}
