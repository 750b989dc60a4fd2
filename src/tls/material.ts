// The TLS material a cluster serves, kept in .pgfort/<cluster>/tls/ (or read from tls.certDir):
// made when missing, a server certificate issued again when it lacks a name the cluster uses, is
// close to expiry, or `tls rotate` asks. Keys are 0600; certificates 0644 (public).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { TlsError } from "../errors";
import { checkServerPair, issueCa, issueServer, readCertificate, type CertificateFacts, type KeyPair } from "./certificates";

/** What the cluster serves: the server pair and the CA clients verify it with. */
export interface TlsMaterial {
  server: KeyPair;
  ca: string;
  /** The CA on the host, for clients' sslrootcert. */
  caFile: string;
  facts: CertificateFacts;
  /** Names the clients use that the certificate does not cover (only with tls.certDir: pgfort cannot add them). */
  missingNames: string[];
  /** True when this call issued or took in a certificate the servers do not serve yet: they need a reload. */
  changed: boolean;
}

export interface TlsOptions {
  /** tls.certDir, resolved against the config file's directory. */
  certDir?: string | undefined;
}

/** A server certificate this close to its end is issued again by the next `up`. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

export function tlsStateDir(stateDir: string): string {
  return path.join(stateDir, "tls");
}

async function readIfPresent(file: string): Promise<string | undefined> {
  return readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new TlsError(`cannot read ${file}: ${error.message}`, "make it readable by the user running pgfort", { cause: error });
  });
}

/** Writes `files` (name → content, mode) beside each other, each by rename: no reader sees half a key. */
async function writeAll(directory: string, files: ReadonlyArray<{ name: string; content: string; mode: number }>): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await chmod(directory, 0o700);
  const suffix = `.tmp-${process.pid}`;
  for (const file of files) await writeFile(path.join(directory, file.name + suffix), file.content, { mode: file.mode });
  for (const file of files) await rename(path.join(directory, file.name + suffix), path.join(directory, file.name));
}

const serial = (): string => randomBytes(8).toString("hex");

/**
 * The material for `names` (every name a client or replica connects with). Generated: issues what
 * is missing, a server certificate again for a name it lacks (it then covers the old and the new
 * names: a certificate never loses a name), 30 days before its end, or when `rotate`. From
 * certDir: checks the files and reports names they lack.
 */
export async function ensureTls(stateDir: string, tls: TlsOptions, names: readonly string[], options: { rotate?: boolean; now?: Date } = {}): Promise<TlsMaterial> {
  const now = options.now ?? new Date();
  const directory = tlsStateDir(stateDir);
  if (tls.certDir) return fromCertDir(directory, tls.certDir, names, now);
  let caPair: KeyPair | undefined;
  const caCert = await readIfPresent(path.join(directory, "ca.crt"));
  const caKey = await readIfPresent(path.join(directory, "ca.key"));
  if (caCert && caKey) caPair = { cert: caCert, key: caKey };
  let changed = false;
  if (!caPair) {
    caPair = issueCa(path.basename(stateDir), now, serial());
    await writeAll(directory, [
      { name: "ca.key", content: caPair.key, mode: 0o600 },
      { name: "ca.crt", content: caPair.cert, mode: 0o644 },
    ]);
    changed = true;
  }
  const cert = await readIfPresent(path.join(directory, "server.crt"));
  const key = await readIfPresent(path.join(directory, "server.key"));
  let current: CertificateFacts | undefined;
  if (cert && key && !changed) {
    current = (() => {
      try {
        return checkServerPair({ cert, key }, caPair.cert, now, directory);
      } catch {
        return undefined; // damaged or expired: issued again below
      }
    })();
  }
  const wanted = [...new Set([...(current?.names ?? []), ...names])];
  const stale = options.rotate === true || !current || wanted.length > current.names.length || current.notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS;
  let server: KeyPair = { cert: cert ?? "", key: key ?? "" };
  if (stale) {
    server = issueServer(caPair, wanted, now, serial());
    await writeAll(directory, [
      { name: "server.key", content: server.key, mode: 0o600 },
      { name: "server.crt", content: server.cert, mode: 0o644 },
    ]);
    changed = true;
  }
  for (const [name, mode] of [["ca.key", 0o600], ["server.key", 0o600]] as const) await chmod(path.join(directory, name), mode);
  return { server, ca: caPair.cert, caFile: path.join(directory, "ca.crt"), facts: readCertificate(server.cert, "server.crt"), missingNames: [], changed };
}

/**
 * The operator's own files: server.crt, server.key, ca.crt. Whether the servers serve them yet is
 * told by the fingerprint pgfort noted when it last took them in (served-fingerprint in the state).
 */
async function fromCertDir(directory: string, certDir: string, names: readonly string[], now: Date): Promise<TlsMaterial> {
  const read = async (name: string): Promise<string> => {
    const content = await readIfPresent(path.join(certDir, name));
    if (content === undefined) throw new TlsError(`tls.certDir ${certDir} has no ${name}`, "put server.crt, server.key and ca.crt there, or remove tls.certDir to let pgfort issue them");
    return content;
  };
  const server = { cert: await read("server.crt"), key: await read("server.key") };
  const ca = await read("ca.crt");
  const facts = checkServerPair(server, ca, now, certDir);
  const noted = path.join(directory, "served-fingerprint");
  const changed = (await readIfPresent(noted))?.trim() !== facts.fingerprint;
  if (changed) await writeAll(directory, [{ name: "served-fingerprint", content: `${facts.fingerprint}\n`, mode: 0o644 }]);
  return { server, ca, caFile: path.join(certDir, "ca.crt"), facts, missingNames: names.filter((name) => !facts.names.includes(name)), changed };
}
