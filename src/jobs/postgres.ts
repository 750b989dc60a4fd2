// SQL from a job container to the servers, with the `pg` library: the server's version, the
// databases, the replication role, and which server is the primary. In the agent each server is
// reached on its socket in the cluster's socket volume when it listens there (as `docker exec`
// reaches it: no bridge), else over the cluster network. The superuser's password comes from its
// secret file, never from the environment or argv.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { Client } from "pg";
import { z } from "zod";
import { SECRETS, SECRETS_DIR, SOCKETS_DIR } from "../cluster/secrets";
import { PostgresError } from "../errors";
import { clientSsl } from "../tls/client";

const PORT = 5432;
const CONNECT_TIMEOUT_MS = 10_000;

/** What the job engine asks of a server: rows checked by schema. A plain fake stands in for it in unit tests. */
export interface SqlSession {
  /** The server's host name on the cluster network (what manifests and messages name). */
  readonly host: string;
  /** The socket directory the session connected through, when it did (the tools use it too). */
  readonly socketDir?: string | undefined;
  query<Row>(sql: string, row: z.ZodType<Row>, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

export async function readSecretFile(name: string, secretsDir = SECRETS_DIR): Promise<string> {
  return (await readFile(path.join(secretsDir, name), "utf8")).trim();
}

/** `host`'s directory in the socket volume when a socket is there (a stale one fails to connect: the network is tried next). */
export async function socketDirOf(host: string, socketsDir = SOCKETS_DIR): Promise<string | undefined> {
  const dir = path.join(socketsDir, host);
  const socket = await stat(path.join(dir, `.s.PGSQL.${PORT}`)).catch(() => undefined);
  return socket?.isSocket() ? dir : undefined;
}

async function openClient(address: string, password: string, database: string): Promise<Client> {
  const ssl = await clientSsl(address);
  const client = new Client({ host: address, port: PORT, user: "postgres", password, database, ssl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: "pgfort-job" });
  // A server that goes away mid-session emits 'error' on the client: it surfaces in the next query instead of crashing the job.
  client.on("error", () => undefined);
  try {
    await client.connect();
    return client;
  } catch (cause) {
    await client.end().catch(() => undefined);
    throw cause;
  }
}

/** A session as the superuser on `host` (its socket first, see above); fails with a PostgresError naming the host. */
export async function connectServer(host: string, password: string, database = "postgres", socketsDir = SOCKETS_DIR): Promise<SqlSession> {
  let socketDir = await socketDirOf(host, socketsDir);
  let client: Client | undefined;
  if (socketDir) client = await openClient(socketDir, password, database).catch(() => undefined);
  if (!client) {
    socketDir = undefined;
    try {
      client = await openClient(host, password, database);
    } catch (cause) {
      throw new PostgresError(`cannot connect to ${host}:${PORT} as postgres: ${(cause as Error).message}`, `check that ${host} is running and healthy (pgfort status) and on the cluster network`, { cause });
    }
  }
  const session = client;
  return {
    host,
    socketDir,
    async query<Row>(sql: string, row: z.ZodType<Row>, params: unknown[] = []): Promise<Row[]> {
      try {
        const result = await session.query(sql, params);
        return z.array(row).parse(result.rows);
      } catch (cause) {
        if (cause instanceof z.ZodError) throw cause;
        throw new PostgresError(`${host}: ${(cause as Error).message}`, `check that ${host} is running and healthy (pgfort status)`, { cause });
      }
    },
    close: () => session.end().catch(() => undefined),
  };
}

const RecoveryRow = z.object({ in_recovery: z.boolean() });

/**
 * The one server of `servers` that is not in recovery, connected. Unreachable servers are skipped
 * (a stopped replica must not stop a backup); none, or more than one, is an error.
 */
export async function connectPrimary(servers: readonly string[], password: string): Promise<SqlSession> {
  const answers = await Promise.all(
    servers.map(async (host) => {
      try {
        const session = await connectServer(host, password);
        const [row] = await session.query("SELECT pg_is_in_recovery() AS in_recovery", RecoveryRow);
        return { host, session, primary: row?.in_recovery === false, problem: undefined };
      } catch (error) {
        return { host, session: undefined, primary: false, problem: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  const primaries = answers.filter((answer) => answer.primary);
  const [only] = primaries;
  for (const answer of answers) if (answer !== only || primaries.length !== 1) await answer.session?.close();
  if (primaries.length === 1 && only?.session) return only.session;
  if (primaries.length > 1) {
    throw new PostgresError(
      `more than one server accepts writes: ${primaries.map((answer) => answer.host).join(", ")}`,
      "a split brain: stop the old primary (pgfort status shows which was promoted) before any backup",
    );
  }
  const seen = answers.map((answer) => `${answer.host}: ${answer.problem ?? "in recovery (a replica)"}`).join("; ");
  throw new PostgresError(`no primary among the cluster's servers (${seen})`, "start the cluster with pgfort up, or promote a replica (pgfort replica promote)");
}

export const SUPERUSER_SECRET = SECRETS.superuser.name;
export const REPLICATION_SECRET = SECRETS.replication.name;
