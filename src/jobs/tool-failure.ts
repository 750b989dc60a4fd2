// What to do when a backup tool fails, read from its stderr. Pure.
import { DecryptionError } from "../errors";

export function explainToolFailure(stderr: string): string {
  if (/has already been removed/.test(stderr)) {
    return "the primary recycled WAL the backup still needed: raise wal_keep_size (primary.settings) or take the backup when less is written";
  }
  if (/does not exist/.test(stderr)) return "check the database names of the job";
  if (/could not connect|Connection refused|could not translate host name|terminating connection|server closed the connection/i.test(stderr)) {
    return "the primary went away during the backup: check it with pgfort status, then run the backup again";
  }
  if (/password authentication failed/.test(stderr)) return "the superuser password in .pgfort/<cluster>/secrets does not match the server's";
  return "read the tool's message above; nothing was kept of this backup";
}

export function toolOf(content: "globals" | "database" | "base"): string {
  return content === "base" ? "pg_basebackup" : content === "globals" ? "pg_dumpall" : "pg_dump";
}

/**
 * age could not decrypt a file of a backup: a wrong or missing identity, which says nothing about
 * the backup itself (no failed verdict). Names the keys the backup was encrypted to.
 */
export function decryptionFailure(stderr: string, what: string, recipients: readonly string[] | undefined): DecryptionError | undefined {
  const keys = recipients?.length ? recipients.join(", ") : "the recipients of backups.encryption when it was taken";
  if (/no identity matched any of the recipients/.test(stderr)) {
    return new DecryptionError(
      `cannot decrypt ${what}: it was encrypted to ${keys}, and the identity in backups.encryption.identityFile is none of them`,
      "set backups.encryption.identityFile to the identity (private key) of one of those recipients and run pgfort up; age-keygen -y FILE prints an identity's public key, and one file may hold several identities",
    );
  }
  if (/encrypted and there is no identity file/.test(stderr)) {
    return new DecryptionError(`cannot decrypt ${what}: it was encrypted to ${keys}, and no identity is configured`, "set backups.encryption.identityFile to the identity (private key) of one of those recipients and run pgfort up");
  }
  return undefined;
}
