// What to do when a backup tool fails, read from its stderr. Pure.

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
