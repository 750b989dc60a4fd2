// How pgfort's own `pg` sessions use TLS: verify-full against the cluster's CA on TCP, nothing on a
// Unix socket (the server refuses TLS there). Set explicitly, so `pg` never reads PGSSLMODE from
// the container's environment (which is libpq's, for the tools).
import { readFile } from "node:fs/promises";
import type { ConnectionOptions } from "node:tls";
import { TLS_CA_PATH } from "../cluster/secrets";

export async function clientSsl(host: string, caFile = TLS_CA_PATH): Promise<false | ConnectionOptions> {
  if (host.startsWith("/")) return false;
  const ca = await readFile(caFile, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  // No CA: a cluster of a pgfort before TLS; the server says so if it requires TLS.
  return ca === undefined ? false : { ca, rejectUnauthorized: true };
}
