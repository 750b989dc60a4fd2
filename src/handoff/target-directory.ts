// A file:// target is bind-mounted into job containers, which run as the image's postgres user
// (uid 999): the directory must be writable by it. Backups written by earlier versions (by the
// host, as the operator) must stay readable and prunable from the container too.
import { chown, lstat, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { POSTGRES_UID } from "../cluster/secrets";
import { BackupTargetError } from "../errors";

/**
 * Creates the directory if missing and hands it to uid 999: as root, by chown (every entry not
 * already owned by it: the old host-written backups); as another user, only a check that says
 * what to run. Returns the absolute directory.
 */
export async function prepareTargetDirectory(directory: string): Promise<string> {
  const absolute = path.resolve(directory);
  try {
    await mkdir(absolute, { recursive: true });
  } catch (cause) {
    throw new BackupTargetError(`cannot create the backup directory ${absolute}: ${(cause as Error).message}`, "create it, or fix backups.target", { cause });
  }
  if (process.getuid?.() === 0) {
    await chownTree(absolute);
    return absolute;
  }
  const info = await lstat(absolute);
  if (info.uid !== POSTGRES_UID && (info.mode & 0o002) === 0) {
    throw new BackupTargetError(
      `the backup directory ${absolute} is not writable by the job containers (uid ${POSTGRES_UID})`,
      `run: sudo chown -R ${POSTGRES_UID}:${POSTGRES_UID} ${absolute} (or setfacl -R -m u:${POSTGRES_UID}:rwX,d:u:${POSTGRES_UID}:rwX ${absolute})`,
    );
  }
  return absolute;
}

async function chownTree(directory: string): Promise<void> {
  const info = await lstat(directory);
  if (info.uid !== POSTGRES_UID) await chown(directory, POSTGRES_UID, POSTGRES_UID);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(directory)) {
    const full = path.join(directory, entry);
    if (entry.includes(".partial-")) continue; // a live write of the operator's own pgfort: leave it
    const child = await lstat(full);
    if (child.isDirectory()) await chownTree(full);
    else if (child.uid !== POSTGRES_UID && !child.isSymbolicLink()) await chown(full, POSTGRES_UID, POSTGRES_UID);
  }
}
