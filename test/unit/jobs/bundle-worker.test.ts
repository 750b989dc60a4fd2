// The parallel engine's worker, run in this thread against a real directory and a real FIFO read
// by GNU tar: what it writes is an archive tar extracts to the same bytes, with damaged pages named.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeBundle, type BundleOutcome, type BundleWork } from "../../../src/jobs/bundle-worker";
import { tarHeader } from "../../../src/backup/tar-header";
import type { SourceEntry } from "../../../src/backup/source-files";

const FIXTURE = path.join(__dirname, "../../../../test/fixtures/pages/heap-4-blocks.bin");

function entry(root: string, relative: string, type: "file" | "directory" = "file"): SourceEntry {
  const stat = statSync(path.join(root, relative));
  return { path: relative, type, size: type === "file" ? stat.size : 0, mode: stat.mode, mtimeMs: stat.mtimeMs };
}

/** Runs the worker's writeBundle into a FIFO that `tar -x` reads into `into`. */
async function bundleInto(work: Omit<BundleWork, "fifo">, into: string, scratch: string): Promise<BundleOutcome> {
  const fifo = path.join(scratch, "fifo");
  execFileSync("mkfifo", [fifo]);
  // -B: a pipe hands out short reads, which tar takes for a broken archive unless told to reblock (as it does on stdin).
  const tar = spawn("tar", ["-x", "-B", "-f", fifo, "-C", into], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  tar.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => tar.once("exit", (code) => resolve(code ?? -1)));
  // tar opens the FIFO for reading once it runs; the worker's open() waits for it.
  const outcome = writeBundle({ ...work, fifo });
  assert.equal(await exited, 0, stderr);
  rmSync(fifo);
  return outcome;
}

describe("the parallel engine's bundle worker", function () {
  let root: string;
  let scratch: string;
  beforeEach(function () {
    root = mkdtempSync(path.join(os.tmpdir(), "pgfort-bundle-src-"));
    scratch = mkdtempSync(path.join(os.tmpdir(), "pgfort-bundle-out-"));
  });
  afterEach(function () {
    rmSync(root, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it("writes a tar that GNU tar extracts byte for byte: directories, files, long paths, in-memory files", async function () {
    const deep = "base/16384/" + "d".repeat(90);
    mkdirSync(path.join(root, deep), { recursive: true });
    writeFileSync(path.join(root, "PG_VERSION"), "17\n");
    writeFileSync(path.join(root, "base/16384/16385"), readFileSync(FIXTURE));
    writeFileSync(path.join(root, deep, "f".repeat(60)), Buffer.alloc(1_500_000, 7));
    writeFileSync(path.join(root, "empty"), "");
    const into = path.join(scratch, "out");
    mkdirSync(into);
    const outcome = await bundleInto(
      {
        dataDir: root,
        startLsn: 2 ** 52,
        checkPages: true,
        entries: [
          entry(root, "base", "directory"),
          entry(root, "PG_VERSION"),
          entry(root, "base/16384/16385"),
          entry(root, `${deep}/${"f".repeat(60)}`),
          entry(root, "empty"),
          { path: "backup_label", type: "memory", content: Buffer.from("START WAL LOCATION: 0/2000028\n"), mode: 0o600, mtimeMs: Date.now() },
        ],
      },
      into,
      scratch,
    );
    assert.deepEqual(outcome.damaged, []);
    assert.deepEqual(readFileSync(path.join(into, "base/16384/16385")), readFileSync(FIXTURE));
    assert.deepEqual(readFileSync(path.join(into, deep, "f".repeat(60))), Buffer.alloc(1_500_000, 7));
    assert.equal(readFileSync(path.join(into, "PG_VERSION"), "utf8"), "17\n");
    assert.equal(readFileSync(path.join(into, "backup_label"), "utf8"), "START WAL LOCATION: 0/2000028\n");
    assert.equal(statSync(path.join(into, "empty")).size, 0);
    assert.deepEqual(outcome.copied.map((file) => [file.path, file.size]), [
      ["PG_VERSION", 3],
      ["base/16384/16385", 32768],
      [`${deep}/${"f".repeat(60)}`, 1_500_000],
      ["empty", 0],
      ["backup_label", 30],
    ]);
  });

  it("names a damaged page by file and block, stores a file that shrank padded to its listed size, and skips a vanished one", async function () {
    mkdirSync(path.join(root, "base/5"), { recursive: true });
    const pages = readFileSync(FIXTURE);
    pages[3 * 8192 + 5000] = pages[3 * 8192 + 5000]! ^ 0xff;
    writeFileSync(path.join(root, "base/5/16384"), pages);
    writeFileSync(path.join(root, "base/5/shrinks"), Buffer.alloc(10_000, 1));
    const listed = [entry(root, "base/5/16384"), entry(root, "base/5/shrinks"), { path: "base/5/gone", type: "file" as const, size: 8192, mode: 0o600, mtimeMs: 0 }];
    writeFileSync(path.join(root, "base/5/shrinks"), Buffer.alloc(4_000, 1));
    const into = path.join(scratch, "out");
    mkdirSync(into);
    const outcome = await bundleInto({ dataDir: root, startLsn: 2 ** 52, checkPages: true, entries: listed }, into, scratch);
    assert.deepEqual(outcome.damaged, [{ file: "base/5/16384", block: 3 }]);
    assert.deepEqual(readFileSync(path.join(into, "base/5/shrinks")), Buffer.concat([Buffer.alloc(4_000, 1), Buffer.alloc(6_000)]));
    assert.deepEqual(outcome.copied.map((file) => file.path), ["base/5/16384", "base/5/shrinks"]);
    // A cluster without data checksums has nothing to verify: the same bytes pass, as pg_basebackup lets them.
    rmSync(into, { recursive: true });
    mkdirSync(into);
    const unchecked = await bundleInto({ dataDir: root, startLsn: 2 ** 52, checkPages: false, entries: [entry(root, "base/5/16384")] }, into, scratch);
    assert.deepEqual(unchecked.damaged, []);
  });

  it("writes ustar headers GNU tar lists with their names, sizes and modes", function () {
    const header = tarHeader({ name: "global/pg_control", type: "file", size: 8192, mode: 0o600, mtimeMs: 0 });
    const archive = Buffer.concat([header, Buffer.alloc(8192), Buffer.alloc(1024)]);
    const listing = execFileSync("tar", ["-tv", "--numeric-owner"], { input: archive }).toString();
    assert.match(listing, /^-rw------- 999\/999\s+8192 1970-01-01 00:00 global\/pg_control$/m);
    assert.throws(() => tarHeader({ name: `${"x".repeat(300)}`, type: "file", size: 1, mode: 0o600, mtimeMs: 0 }), /too long/);
  });
});
