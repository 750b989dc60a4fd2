// SQL run inside a node's container: psql over the unix socket (trusted there, so no password
// travels), the SQL on stdin (never in argv), results as JSON validated by a schema.
import { z } from "zod";
import type { DockerClient } from "../docker/client";
import { PostgresError } from "../errors";
import { SUPERUSER } from "./plan";

const PSQL = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", SUPERUSER];

/** Runs statements; throws a PostgresError with the server's message when one fails. */
export async function runSql(docker: DockerClient, container: string, sql: string, database = "postgres"): Promise<string> {
  const result = await docker.exec(container, [...PSQL, "-d", database], { stdin: sql });
  if (result.exitCode !== 0) {
    const message = result.stderr.replace(/^psql:<stdin>:\d+: /gm, "").trim() || `psql exited with ${result.exitCode}`;
    throw new PostgresError(`${container}: ${message}`, `check that ${container} is running and healthy (pgfort status)`);
  }
  return result.stdout.trim();
}

/** Runs a query and returns its rows, each checked against `row`. */
export async function queryRows<Row>(
  docker: DockerClient,
  container: string,
  query: string,
  row: z.ZodType<Row>,
  database = "postgres",
): Promise<Row[]> {
  const output = await runSql(docker, container, `SELECT coalesce(json_agg(q), '[]') FROM (${query}) q;`, database);
  return z.array(row).parse(JSON.parse(output || "[]"));
}

/** A string for SQL text: single quotes doubled (for values pgfort itself controls, like slot names). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The databases a dump or a row count covers: every one that takes connections, templates aside. */
export const USER_DATABASES_QUERY = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname";
