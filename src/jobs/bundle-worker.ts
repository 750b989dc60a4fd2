// One worker of the parallel engine, in a thread of its own: the bundle's files read from the
// data directory, every whole page of a relation file checked against its checksum (a failing page
// read again: the server may have been writing it; failing twice it is damage), framed as tar and
// written into a FIFO that the bundle's compressor reads. Synchronous on purpose: one reused buffer,
// no event loop between the disk and the pipe; the main thread only carries compressed bytes.
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { BLOCKS_PER_SEGMENT, checksumChunk, failingPages, PAGE_SIZE } from "../backup/page-checksum";
import { firstBlockOf, isChecksummed, type SourceEntry } from "../backup/source-files";
import { END_OF_ARCHIVE, paddingAfter, tarHeader } from "../backup/tar-header";

export interface MemoryEntry {
  path: string;
  type: "memory";
  content: Uint8Array;
  mode: number;
  mtimeMs: number;
}

export interface BundleWork {
  dataDir: string;
  fifo: string;
  startLsn: number;
  /** The cluster has data checksums: verify every page of a relation file (off: there is nothing to verify). */
  checkPages: boolean;
  entries: Array<SourceEntry | MemoryEntry>;
}

export interface BundleOutcome {
  /** Files as stored (a file gone since the listing is left out): the backup_manifest's lines. */
  copied: Array<{ path: string; size: number; mtimeMs: number }>;
  damaged: Array<{ file: string; block: number }>;
  /** Bytes of tar written. */
  tarBytes: number;
}

const CHUNK_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(512);

export function writeBundle(work: BundleWork): BundleOutcome {
  const out = openSync(work.fifo, "w");
  const outcome: BundleOutcome = { copied: [], damaged: [], tarBytes: 0 };
  // In the checksum module's memory: its pages are checked where they were read.
  const buffer = checksumChunk(CHUNK_BYTES);
  const again = Buffer.alloc(PAGE_SIZE);
  const write = (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length; ) done += writeSync(out, bytes, done, bytes.length - done);
    outcome.tarBytes += bytes.length;
  };
  try {
    for (const entry of work.entries) {
      if (entry.type === "directory") {
        write(tarHeader({ name: entry.path, type: "directory", size: 0, mode: entry.mode, mtimeMs: entry.mtimeMs }));
      } else if (entry.type === "memory") {
        write(tarHeader({ name: entry.path, type: "file", size: entry.content.length, mode: entry.mode, mtimeMs: entry.mtimeMs }));
        write(entry.content);
        write(ZEROS.subarray(0, paddingAfter(entry.content.length)));
        outcome.copied.push({ path: entry.path, size: entry.content.length, mtimeMs: entry.mtimeMs });
      } else {
        const size = copyFile(work, entry, buffer, again, write, outcome.damaged);
        if (size !== undefined) outcome.copied.push({ path: entry.path, size, mtimeMs: entry.mtimeMs });
      }
    }
    write(END_OF_ARCHIVE);
  } finally {
    closeSync(out);
  }
  return outcome;
}

/**
 * A file at the size the listing saw: one that shrank since is padded with zeros (as pg_basebackup
 * does; WAL replay puts it right), one that grew is cut there (the rest is in the WAL).
 */
function copyFile(work: BundleWork, entry: SourceEntry, buffer: Buffer, again: Buffer, write: (bytes: Uint8Array) => void, damaged: BundleOutcome["damaged"]): number | undefined {
  let input: number;
  try {
    input = openSync(path.join(work.dataDir, entry.path), "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined; // dropped since the listing
    throw error;
  }
  try {
    const checked = work.checkPages && isChecksummed(entry.path);
    const firstBlock = checked ? firstBlockOf(entry.path, BLOCKS_PER_SEGMENT) : 0;
    write(tarHeader({ name: entry.path, type: "file", size: entry.size, mode: entry.mode, mtimeMs: entry.mtimeMs }));
    for (let offset = 0; offset < entry.size; ) {
      const length = Math.min(buffer.length, entry.size - offset);
      let read = 0;
      for (let got = -1; read < length && got !== 0; read += got) got = readSync(input, buffer, read, length - read, offset + read);
      if (read < length) buffer.fill(0, read, length);
      const whole = Math.floor(read / PAGE_SIZE) * PAGE_SIZE;
      if (checked && whole > 0) {
        for (const failure of failingPages(buffer.subarray(0, whole), firstBlock + offset / PAGE_SIZE, work.startLsn)) {
          const at = (failure.block - firstBlock) * PAGE_SIZE;
          // The second read is what is stored: the server may have finished writing the page.
          if (readSync(input, again, 0, PAGE_SIZE, at) === PAGE_SIZE) {
            again.copy(buffer, at - offset);
            if (failingPages(again, failure.block, work.startLsn).length === 0) continue;
          }
          damaged.push({ file: entry.path, block: failure.block });
        }
      }
      write(buffer.subarray(0, length));
      offset += length;
    }
    write(ZEROS.subarray(0, paddingAfter(entry.size)));
    return entry.size;
  } finally {
    closeSync(input);
  }
}

if (parentPort && workerData) {
  const port = parentPort;
  try {
    port.postMessage({ ok: true, outcome: writeBundle(workerData as BundleWork) });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    port.postMessage({ ok: false, message: failure.message, code: failure.code });
  }
}
