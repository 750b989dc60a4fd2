// Files pgfort keeps beside the config in .pgfort/<cluster>/: generated secrets and rendered conf.d.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile, open } from "node:fs/promises";
import path from "node:path";
import type { ConfFiles } from "../config/render-conf-d";
import { ConfigError } from "../errors";
import { packagePath } from "../paths";
import { SECRETS, secretsDir } from "./secrets";

/**
 * Creates the missing secret files (random, mode 0600, owned by whoever runs pgfort). Existing ones
 * are kept. The containers get them through the secrets volume (./secrets-volume.ts), so no chown.
 */
export async function ensureSecrets(stateDir: string): Promise<void> {
  const directory = secretsDir(stateDir);
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    for (const { name } of Object.values(SECRETS)) {
      const file = path.join(directory, name);
      try {
        // 'wx': never overwrite a password the database was initialised with.
        await writeFile(file, randomBytes(24).toString("base64url"), { flag: "wx", mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      await chmod(file, 0o600);
    }
  } catch (error) {
    throw explainStateAccess(error, stateDir);
  }
}

export async function readSecret(stateDir: string, name: string): Promise<string> {
  try {
    return (await readFile(path.join(secretsDir(stateDir), name), "utf8")).trim();
  } catch (error) {
    throw explainStateAccess(error, stateDir);
  }
}

/**
 * A state directory this user may not use (typically written by an earlier run as root, or by
 * pgfort versions that chowned the secrets to uid 999) becomes a ConfigError saying how to take it
 * back; any other error is returned as it is. Pure.
 */
export function explainStateAccess(error: unknown, stateDir: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== "EACCES" && code !== "EPERM") return error;
  return new ConfigError(
    `cannot use the state directory ${stateDir} (${code}): it belongs to another user`,
    `give it to the user that runs pgfort: sudo chown -R "$(id -u):$(id -g)" ${stateDir}`,
    { cause: error },
  );
}

export async function loadDefaultConfD(): Promise<Map<string, string>> {
  return readConfD(packagePath("conf.d"));
}

/** The *.conf files of a directory; an absent directory has none. */
export async function readConfD(directory: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  let names: string[];
  try {
    names = (await readdir(directory)).filter((name) => name.endsWith(".conf")).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return files;
    throw error;
  }
  for (const name of names) files.set(name, await readFile(path.join(directory, name), "utf8"));
  return files;
}

/**
 * Makes the directory hold exactly `files`. Each file is written to a temporary name, fsynced and
 * renamed, so the server never reads half a file, and a reload sees new inodes.
 */
export async function writeConfD(directory: string, files: ConfFiles): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o755 });
  await chmod(directory, 0o755);
  for (const [name, content] of files) {
    const target = path.join(directory, name);
    const temporary = path.join(directory, `.${name}.tmp`);
    const handle = await open(temporary, "w", 0o644);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temporary, 0o644);
    await rename(temporary, target);
  }
  for (const name of await readdir(directory)) {
    if (name.endsWith(".conf") && !files.has(name)) await rm(path.join(directory, name));
  }
}
