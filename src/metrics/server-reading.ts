// One scrape of one server: a fresh connection, the queries of queries.ts, the connection closed.
// A new connection each scrape (every 15 to 60 s) costs a few milliseconds and holds no slot of
// max_connections between scrapes; a restarted or promoted server needs no reconnect logic.
import { clientSsl } from "../tls/client";
import { Client } from "pg";
import { z } from "zod";
import { PostgresError } from "../errors";
import {
  ACTIVITY_QUERY,
  ActivityRow,
  ARCHIVER_QUERY,
  ArchiverRow,
  CheckpointRow,
  checkpointsQuery,
  DATABASES_QUERY,
  DatabaseRow,
  FACTS_QUERY,
  FactsRow,
  REPLICATION_QUERY,
  ReplicationRow,
  type ServerReading,
  SLOTS_QUERY,
  SlotRow,
} from "./queries";

export interface ServerAddress {
  /** The node's name in pgfort.yaml (primary, r1…): the `node` label. */
  node: string;
  host: string;
  port: number;
}

export interface Credentials {
  user: string;
  password: string;
  database: string;
}

/** Reads every metric query from one server; rejects when it cannot connect or a query fails, or after timeoutMs. */
export async function readServer(address: ServerAddress, credentials: Credentials, timeoutMs: number, caFile?: string): Promise<ServerReading> {
  const client = new Client({
    host: address.host,
    port: address.port,
    ...credentials,
    ssl: await clientSsl(address.host, caFile),
    application_name: "pgfort-metrics",
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
  });
  // Without a listener, an error after connecting (the server shut down mid-scrape) would be thrown
  // as an unhandled 'error' event and stop the agent; the pending query rejects with it anyway.
  client.on("error", () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new PostgresError(`${address.node} (${address.host}:${address.port}) did not answer within ${timeoutMs} ms`, "check the server's health with pgfort status")),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([query(client), deadline]);
  } finally {
    clearTimeout(timer);
    // end() of a hung connection destroys its socket rather than waiting for it.
    await client.end().catch(() => undefined);
  }
}

async function query(client: Client): Promise<ServerReading> {
  await client.connect();
  const rows = async <Row>(sql: string, schema: z.ZodType<Row>): Promise<Row[]> => z.array(schema).parse((await client.query(sql)).rows);
  const [facts] = await rows(FACTS_QUERY, FactsRow);
  if (!facts) throw new PostgresError("the server returned no row for its facts", "check the server with psql");
  return {
    facts,
    databases: await rows(DATABASES_QUERY, DatabaseRow),
    activity: await rows(ACTIVITY_QUERY, ActivityRow),
    // A standby has no pg_stat_replication rows of its own in pgfort (no cascading).
    replication: facts.in_recovery ? [] : await rows(REPLICATION_QUERY, ReplicationRow),
    slots: await rows(SLOTS_QUERY, SlotRow),
    checkpoints: (await rows(checkpointsQuery(facts.version_num), CheckpointRow))[0] ?? null,
    archiver: (await rows(ARCHIVER_QUERY, ArchiverRow))[0] ?? null,
  };
}
