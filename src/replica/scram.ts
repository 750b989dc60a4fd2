// A SCRAM-SHA-256 verifier (RFC 5802/7677, the format of pg_authid.rolpassword), so that
// CREATE ROLE ... PASSWORD sends the server a verifier and the plaintext never reaches its logs.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const ITERATIONS = 4096; // PostgreSQL's default scram_iterations

/** The password must be ASCII without control characters (pgfort's generated secrets are base64url), so SASLprep is the identity. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  if (!/^[\x20-\x7e]*$/.test(password)) throw new Error("scramVerifier handles printable ASCII passwords only");
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
