// The certificates pgfort issues for a cluster's TLS: a CA of its own and a server certificate
// signed by it, valid for the names clients use (localhost, 127.0.0.1, the published address, the
// container names). Pure apart from key generation: the clock and the serial come in.
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { isIP } from "node:net";
import forge from "node-forge";
import { TlsError } from "../errors";

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

const CA_DAYS = 3650;
/** Browsers' limit for server certificates; PostgreSQL clients accept any, but short lives get rotated. */
export const SERVER_DAYS = 825;
const DAY_MS = 86_400_000;

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  // Node's own RSA key generation (forge's is pure JavaScript and takes seconds).
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function validity(cert: forge.pki.Certificate, now: Date, days: number): void {
  // An hour back, for hosts whose clocks disagree by a little.
  cert.validity.notBefore = new Date(now.getTime() - 3_600_000);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

/** A positive serial from 16 random-looking hex digits (the leading digit below 8 keeps it positive in DER). */
function serialHex(serial: string): string {
  if (!/^[0-9a-f]{16}$/.test(serial)) throw new Error(`serial must be 16 hex digits, not ${serial}`);
  return `0${serial.slice(1)}`;
}

/** The cluster's own certificate authority, valid ten years. */
export function issueCa(cluster: string, now: Date, serial: string): KeyPair {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialHex(serial);
  validity(cert, now, CA_DAYS);
  const subject = [{ name: "commonName", value: `pgfort ${cluster} CA` }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** A server certificate for `names` (host names and IP addresses), signed by `ca`. */
export function issueServer(ca: KeyPair, names: readonly string[], now: Date, serial: string): KeyPair {
  if (names.length === 0) throw new Error("a server certificate needs at least one name");
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialHex(serial);
  validity(cert, now, SERVER_DAYS);
  cert.setSubject([{ name: "commonName", value: names[0] ?? "" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** What pgfort checks of a certificate it serves. */
export interface CertificateFacts {
  names: string[];
  notAfter: Date;
  serial: string;
  fingerprint: string;
}

export function readCertificate(pem: string, what: string): CertificateFacts {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (cause) {
    throw new TlsError(`${what} is not a PEM certificate: ${(cause as Error).message}`, "replace it with a PEM (BEGIN CERTIFICATE) file", { cause });
  }
  const names = (cert.subjectAltName ?? "")
    .split(", ")
    .filter(Boolean)
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ""));
  return { names, notAfter: new Date(cert.validTo), serial: cert.serialNumber, fingerprint: cert.fingerprint256 };
}

/**
 * Checks that `server` serves TLS: a PEM key matching the certificate, signed by `caPem`, not
 * expired at `now`. Throws a TlsError that names the file to fix.
 */
export function checkServerPair(server: KeyPair, caPem: string, now: Date, where: string): CertificateFacts {
  const facts = readCertificate(server.cert, `${where}/server.crt`);
  const cert = new X509Certificate(server.cert);
  let key;
  try {
    key = createPrivateKey(server.key);
  } catch (cause) {
    throw new TlsError(`${where}/server.key is not a PEM private key: ${(cause as Error).message}`, "replace it with the certificate's unencrypted PEM key (PostgreSQL cannot ask for a passphrase)", { cause });
  }
  if (!cert.checkPrivateKey(key)) throw new TlsError(`${where}/server.key does not belong to ${where}/server.crt`, "put the certificate's own key beside it");
  readCertificate(caPem, `${where}/ca.crt`);
  if (!cert.verify(new X509Certificate(caPem).publicKey)) {
    throw new TlsError(`${where}/server.crt is not signed by ${where}/ca.crt`, "put the CA that signed the server certificate in ca.crt (clients verify against it)");
  }
  if (facts.notAfter.getTime() <= now.getTime()) {
    throw new TlsError(`${where}/server.crt expired on ${facts.notAfter.toISOString()}`, "renew it (or remove tls.certDir and let pgfort issue one), then run pgfort tls rotate");
  }
  return facts;
}
