// A physical backup connects as the replication role (REPLICATION privilege only): created here,
// from the job container, when the cluster does not have it yet (clusters made before replicas existed).
import { z } from "zod";
import { REPLICATION_USER } from "../cluster/plan";
import { scramVerifier } from "../replica/scram";
import { readSecretFile, REPLICATION_SECRET, type SqlSession } from "./postgres";

/** Creates the role when missing; an existing role is left as it is (its replicas use its password). True when created. */
export async function ensureReplicationRole(primary: SqlSession, secretsDir: string): Promise<boolean> {
  const exists = await primary.query("SELECT 1 AS one FROM pg_roles WHERE rolname = $1", z.object({ one: z.number() }), [REPLICATION_USER]);
  if (exists.length > 0) return false;
  const verifier = scramVerifier(await readSecretFile(REPLICATION_SECRET, secretsDir));
  // DDL takes no parameters: the verifier is base64 and '$'-separated, quoted as a literal.
  await primary.query(
    `CREATE ROLE ${REPLICATION_USER} WITH REPLICATION LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS CONNECTION LIMIT 20 PASSWORD '${verifier.replace(/'/g, "''")}'`,
    z.unknown(),
  );
  return true;
}
