import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { checksumChunk, failingPages, lsnNumber, pageChecksum, PAGE_SIZE } from "../../../src/backup/page-checksum";

// Four blocks of a heap table written by PostgreSQL 17 with data checksums on (base/5/16384,
// blocks 0-3, read after a CHECKPOINT): the checksums in their headers are PostgreSQL's own.
const FIXTURE = path.join(__dirname, "../../../../test/fixtures/pages/heap-4-blocks.bin");

/** A page-aligned copy (Buffer.from may hand out a slice of a shared pool at any offset). */
function aligned(bytes: Buffer): Buffer {
  const copy = Buffer.alloc(bytes.length);
  bytes.copy(copy);
  return copy;
}

describe("data page checksums", function () {
  const pages = aligned(readFileSync(FIXTURE));
  const words = new Uint32Array(pages.buffer, pages.byteOffset, pages.length / 4);

  it("computes the checksum PostgreSQL stored in each page, block number included", function () {
    for (let block = 0; block < 4; block++) {
      const stored = pages.readUInt16LE(block * PAGE_SIZE + 8);
      assert.notEqual(stored, 0);
      assert.equal(pageChecksum(words, block * (PAGE_SIZE / 4), block), stored, `block ${block}`);
    }
    // The same page as another block of the relation: a page in the wrong place fails.
    assert.notEqual(pageChecksum(words, 0, 1), pages.readUInt16LE(8));
  });

  it("passes intact pages and names the block of a flipped byte", function () {
    assert.deepEqual(failingPages(pages, 0, lsnNumber("FFFFFFFF/0")), []);
    const damaged = aligned(pages);
    damaged[2 * PAGE_SIZE + 4000] = damaged[2 * PAGE_SIZE + 4000]! ^ 0x55;
    const failures = failingPages(damaged, 0, lsnNumber("FFFFFFFF/0"));
    assert.deepEqual(failures.map((failure) => failure.block), [2]);
    assert.equal(failures[0]?.expected, pages.readUInt16LE(2 * PAGE_SIZE + 8));
    // In a second segment the blocks count on from 131072.
    assert.deepEqual(failingPages(damaged, 131072, lsnNumber("FFFFFFFF/0")).map((failure) => failure.block), [131072, 131073, 131074, 131075]);
  });

  it("skips pages written since the backup started, and zeroed new pages", function () {
    const damaged = aligned(pages);
    damaged[PAGE_SIZE + 100] = damaged[PAGE_SIZE + 100]! ^ 1;
    const lsn = damaged.readUInt32LE(PAGE_SIZE) * 2 ** 32 + damaged.readUInt32LE(PAGE_SIZE + 4);
    assert.equal(failingPages(damaged, 0, lsn + 1).length, 1);
    assert.deepEqual(failingPages(damaged, 0, lsn), [], "a page whose LSN is the start LSN is being written");
    assert.deepEqual(failingPages(Buffer.alloc(2 * PAGE_SIZE), 0, 1), []);
    const header = Buffer.alloc(PAGE_SIZE);
    header[5000] = 7;
    assert.equal(failingPages(header, 0, 1).length, 1, "a zero header over non-zero bytes is damage");
  });

  it("reads LSNs as PostgreSQL prints them", function () {
    assert.equal(lsnNumber("0/16B3748"), 0x16b3748);
    assert.equal(lsnNumber("1A/0"), 0x1a * 2 ** 32);
    assert.throws(() => lsnNumber("nope"));
  });
});

describe("the WebAssembly checksum against a plain transcription of checksum_impl.h", function () {
  const BASE = [
    0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c, 0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
    0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4, 0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
  ];
  function reference(page: Buffer, blkno: number): number {
    const copy = Buffer.from(page);
    copy.writeUInt16LE(0, 8);
    const sums = BASE.map((value) => value >>> 0);
    const comp = (lane: number, value: number) => {
      const tmp = (sums[lane]! ^ value) >>> 0;
      sums[lane] = (Math.imul(tmp, 16777619) ^ (tmp >>> 17)) >>> 0;
    };
    for (let row = 0; row < 64; row++) for (let lane = 0; lane < 32; lane++) comp(lane, copy.readUInt32LE((row * 32 + lane) * 4));
    for (let round = 0; round < 2; round++) for (let lane = 0; lane < 32; lane++) comp(lane, 0);
    const folded = sums.reduce((a, b) => (a ^ b) >>> 0, 0);
    return (((folded ^ blkno) >>> 0) % 65535) + 1;
  }

  it("agrees on random pages and block numbers, in the module's memory and outside it", function () {
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const chunk = checksumChunk(4 * PAGE_SIZE);
    for (let trial = 0; trial < 50; trial++) {
      const page = Buffer.alloc(PAGE_SIZE);
      for (let at = 0; at < PAGE_SIZE; at += 4) page.writeUInt32LE(random(), at);
      const blkno = trial === 0 ? 0xffffffff : random() % 1_000_000;
      const outside = new Uint32Array(page.buffer, page.byteOffset, PAGE_SIZE / 4);
      assert.equal(pageChecksum(outside, 0, blkno), reference(page, blkno), `trial ${trial}`);
      page.copy(chunk, (trial % 4) * PAGE_SIZE);
      const inside = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
      assert.equal(pageChecksum(inside, (trial % 4) * (PAGE_SIZE / 4), blkno), reference(page, blkno), `trial ${trial}, in place`);
    }
  });
});
