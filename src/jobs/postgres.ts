// SQL from a job container to the servers over the cluster network, with the `pg` library: the
// server's version, the databases, the replication role, and which server is the primary. The
// superuser's password comes from its secret file, never from the environment or argv.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Client } from "pg";
import { z } from "zod";
import { SECRETS, SECRETS_DIR } from "../cluster/secrets";
import { PostgresError } from "../errors";

const PORT = 5432;
const CONNECT_TIMEOUT_MS = 10_000;

/** What the job engine asks of a server: rows checked by schema. A plain fake stands in for it in unit tests. */
export interface SqlSession {
  readonly host: string;
  query<Row>(sql: string, row: z.ZodType<Row>, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

export async function readSecretFile(name: string, secretsDir = SECRETS_DIR): Promise<string> {
  return (await readFile(path.join(secretsDir, name), "utf8")).trim();
}

/** A session as the superuser on `host`; fails with a PostgresError naming the host. */
export async function connectServer(host: string, password: string, database = "postgres"): Promise<SqlSession> {
  const client = new Client({ host, port: PORT, user: "postgres", password, database, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: "pgfort-job" });
  // A server that goes away mid-session emits 'error' on the client: it surfaces in the next query instead of crashing the job.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => undefined);
    throw new PostgresError(`cannot connect to ${host}:${PORT} as postgres: ${(cause as Error).message}`, `check that ${host} is running and healthy (pgfort status) and on the cluster network`, { cause });
  }
  return {
    host,
    async query<Row>(sql: string, row: z.ZodType<Row>, params: unknown[] = []): Promise<Row[]> {
      try {
        const result = await client.query(sql, params);
        return z.array(row).parse(result.rows);
      } catch (cause) {
        if (cause instanceof z.ZodError) throw cause;
        throw new PostgresError(`${host}: ${(cause as Error).message}`, `check that ${host} is running and healthy (pgfort status)`, { cause });
      }
    },
    close: () => client.end().catch(() => undefined),
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
