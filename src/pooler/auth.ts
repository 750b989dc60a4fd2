// PgBouncer's auth_file, with one entry: the superuser's SCRAM verifier (never its password), so
// the admin console knows the user pgfort and the agent log in as over the pooler's socket (peer),
// and the superuser logs in through the pooler with its own password. Every other role is looked
// up on the server (auth_query). The file goes into the secrets volume, mode 0400 for uid 999.
import { createHmac } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { SUPERUSER } from "../cluster/plan";
import { POOLER_AUTH_FILE, SECRETS, secretsDir } from "../cluster/secrets";
import { ensureSecrets, readSecret } from "../cluster/state";
import { scramVerifier } from "../replica/scram";

/** The file's text; the salt is derived from the password, so an unchanged password gives the same file (no copy, no reload). */
export function renderPoolerAuth(password: string): string {
  const salt = createHmac("sha256", password).update("pgfort pooler auth_file").digest().subarray(0, 16);
  return `"${SUPERUSER}" "${scramVerifier(password, salt)}"\n`;
}

/** Writes it beside the secrets when the config has a pooler, removes it otherwise. */
export async function syncPoolerAuth(stateDir: string, enabled: boolean): Promise<void> {
  const file = path.join(secretsDir(stateDir), POOLER_AUTH_FILE);
  if (!enabled) return rm(file, { force: true });
  await ensureSecrets(stateDir); // a first `up` makes the password here
  await writeFile(file, renderPoolerAuth(await readSecret(stateDir, SECRETS.superuser.name)), { mode: 0o600 });
}
