// A backup target on the local disk. Writes go to a temporary name, are fsynced, then renamed:
// a crash or a full disk never leaves a file under its final name.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { finished } from "node:stream/promises";
import type { Readable } from "node:stream";
import { BackupTargetError } from "../../errors";
import type { BackupTarget, PendingWrite, StoredObject } from "./target";
import { currentOwner, type Owner } from "../../lifecycle/owner";

/**
 * Owner read-write, group read: jobs write as uid 999 in the agent image; a non-root operator's
 * target directory is setgid to their group, which then reads the backups (src/cluster/agent.ts).
 */
const FILE_MODE = 0o640;

/** A temporary file of a write in progress, or of one that never finished. */
export interface PartialFile {
  path: string;
  modifiedAt: Date;
  /** Its writer, from the name (undefined for names from before writers were recorded). */
  owner?: Owner;
}

// `<final name>.partial-<host>~<pid>~<start time>~<random>`: the reaper can tell whether the
// writer still runs without any other record. Hosts are reduced to safe characters.
const PARTIAL = /\.partial-(?:([A-Za-z0-9._]+)~(\d+)~([A-Za-z0-9]+)~)?[0-9a-f]+$/;

function partialSuffix(): string {
  const { host, pid, started } = currentOwner();
  return `.partial-${partialHost(host)}~${pid}~${started}~${randomBytes(4).toString("hex")}`;
}

/** The local host as it appears in partial names. */
export function partialHost(host: string): string {
  return host.replace(/[^A-Za-z0-9.]/g, "_");
}

export class FileTarget implements BackupTarget {
  readonly url: string;

  constructor(private readonly root: string) {
    this.url = `file://${root}`;
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      const probe = path.join(this.root, `.pgfort-probe-${process.pid}`);
      const handle = await open(probe, "w");
      await handle.close();
      await rm(probe);
    } catch (cause) {
      throw this.failure(`cannot write to the backup directory ${this.root}`, cause);
    }
  }

  async write(key: string): Promise<PendingWrite> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}${partialSuffix()}`;
    const stream = createWriteStream(temporary, { flags: "wx", mode: FILE_MODE });
    let failure: Error | undefined;
    stream.once("error", (cause) => (failure = this.failure(`cannot write ${target}`, cause)));
    return {
      stream,
      failure: async () => failure,
      commit: async () => {
        await finished(stream);
        await this.syncAndRename(temporary, target);
      },
      abort: async () => {
        stream.destroy();
        await rm(temporary, { force: true });
      },
    };
  }

  async writeText(key: string, text: string | Buffer): Promise<void> {
    const target = this.pathOf(key);
    const temporary = `${target}${partialSuffix()}`;
    try {
      await mkdir(path.dirname(target), { recursive: true });
      const handle = await open(temporary, "wx", FILE_MODE);
      try {
        await handle.writeFile(text);
      } finally {
        await handle.close();
      }
      await this.syncAndRename(temporary, target);
    } catch (cause) {
      await rm(temporary, { force: true });
      throw this.failure(`cannot write ${target}`, cause);
    }
  }

  async read(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      await stat(file);
    } catch (cause) {
      throw this.failure(`cannot read ${file}`, cause);
    }
    return createReadStream(file);
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(key), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw this.failure(`cannot read ${this.pathOf(key)}`, error);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    const walk = async (relative: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(path.join(this.root, relative), { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw this.failure(`cannot list ${path.join(this.root, relative)}`, error);
      }
      for (const entry of entries) {
        const key = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(key);
        else if (entry.isFile() && key.startsWith(prefix)) {
          // A writer's partial file renamed into place (or removed) since readdir: not there to list.
          const info = await stat(path.join(this.root, key)).catch((error: unknown) => {
            if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
            throw this.failure(`cannot read ${path.join(this.root, key)}`, error);
          });
          if (info) objects.push({ key, bytes: info.size, modifiedAt: info.mtime });
        }
      }
    };
    await walk(prefix.split("/").slice(0, -1).join("/"));
    return objects.sort((a, b) => a.key.localeCompare(b.key));
  }

  async remove(keys: readonly string[]): Promise<void> {
    const directories = new Set<string>();
    for (const key of keys) {
      await rm(this.pathOf(key), { force: true });
      directories.add(path.dirname(this.pathOf(key)));
    }
    // Leave no empty backup directories behind (rmdir fails on a directory that still holds files).
    for (const directory of directories) await rmdir(directory).catch(() => undefined);
  }

  locate(key: string): string {
    return this.pathOf(key);
  }

  /** Temporary files under `prefix`, whoever wrote them (the reaper decides which are stale). */
  async listPartials(prefix: string): Promise<PartialFile[]> {
    const partials: PartialFile[] = [];
    const walk = async (directory: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(directory, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw this.failure(`cannot list ${directory}`, error);
      }
      for (const entry of entries) {
        const file = path.join(directory, entry.name);
        if (entry.isDirectory()) await walk(file);
        else if (entry.isFile()) {
          const match = PARTIAL.exec(entry.name);
          if (!match) continue;
          const info = await stat(file).catch(() => undefined);
          if (!info) continue;
          const [, host, pid, started] = match;
          partials.push({ path: file, modifiedAt: info.mtime, ...(host && pid && started ? { owner: { host, pid: Number(pid), started } } : {}) });
        }
      }
    };
    await walk(this.pathOf(prefix));
    return partials;
  }

  async removePartial(file: PartialFile): Promise<void> {
    await rm(file.path, { force: true });
    await rmdir(path.dirname(file.path)).catch(() => undefined); // the backup's directory, if now empty
  }

  async abortStaleUploads(): Promise<number> {
    return 0; // a local directory has no multipart uploads; stale .partial files go with their backup
  }

  private pathOf(key: string): string {
    const resolved = path.resolve(this.root, key);
    if (!resolved.startsWith(`${this.root}${path.sep}`) && resolved !== this.root) throw new Error(`key ${key} escapes the target`);
    return resolved;
  }

  private async syncAndRename(temporary: string, target: string): Promise<void> {
    const handle = await open(temporary, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    // fsync the directory too, so the rename itself survives a power loss.
    const directory = await open(path.dirname(target), "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  private failure(message: string, cause: unknown): BackupTargetError {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOSPC"
        ? "the disk of the backup target is full: free space or choose another backups.target"
        : code === "EACCES" || code === "EPERM"
          ? "pgfort cannot write there: fix the directory's permissions or choose another backups.target"
          : "check backups.target";
    return new BackupTargetError(`${message}: ${(cause as Error).message ?? String(cause)}`, hint, { cause });
  }
}
