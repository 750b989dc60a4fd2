import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { failingPages, lsnNumber, pageChecksum, PAGE_SIZE } from "../../../src/backup/page-checksum";

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
