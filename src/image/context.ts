// Packs the build context as a tar stream from the package's own files: images/ and conf.d/ only,
// with fixed owner and mtime so identical sources give an identical context (and a cache hit).
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { packagePath } from "../paths";
import { planContextFiles } from "./plan";

const FIXED_MTIME = new Date("2000-01-01T00:00:00Z");

/** The context's files, relative to `root` (the package root by default). */
export async function listContextFiles(root = packagePath()): Promise<string[]> {
  return planContextFiles(await readdir(path.join(root, "conf.d")));
}

export async function createBuildContext(files: readonly string[], root = packagePath()): Promise<Readable> {
  const archive = pack();
  for (const file of files) {
    const absolute = path.join(root, file);
    const [content, info] = await Promise.all([readFile(absolute), stat(absolute)]);
    // Keep only the executable bit of the source: the Dockerfile sets the final modes.
    const mode = info.mode & 0o111 ? 0o755 : 0o644;
    archive.entry({ name: file, mode, uid: 0, gid: 0, mtime: FIXED_MTIME }, content);
  }
  archive.finalize();
  // tar-stream packs with streamx; Readable.from gives the node stream dockerode expects.
  return Readable.from(archive);
}
