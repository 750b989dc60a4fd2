// The certificates pgfort issues, read back with Node's own X.509 parser and OpenSSL's checks.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { checkServerPair, issueCa, issueServer } from "../../../src/tls/certificates";
import { TlsError } from "../../../src/errors";

const NOW = new Date("2026-12-06T12:00:00Z");

describe("TLS certificates", function () {
  const ca = issueCa("app", NOW, "0123456789abcdef");
  const server = issueServer(ca, ["localhost", "127.0.0.1", "app-primary"], NOW, "fedcba9876543210");

  it("issues a CA that signs a server certificate for host names and IP addresses", function () {
    const caCert = new X509Certificate(ca.cert);
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, "CN=pgfort app CA");
    const cert = new X509Certificate(server.cert);
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(cert.checkHost("app-primary"));
    assert.ok(cert.checkHost("localhost"));
    assert.ok(cert.checkIP("127.0.0.1"));
    assert.equal(cert.checkHost("app-r9"), undefined);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]); // serverAuth
    assert.equal(new Date(cert.validTo).getTime() - NOW.getTime(), 825 * 86_400_000);
    assert.match(server.key, /^-----BEGIN PRIVATE KEY-----/);
  });

  it("accepts its own pair and names what is wrong with a bad one", function () {
    assert.deepEqual(checkServerPair(server, ca.cert, NOW, "/certs").names, ["localhost", "127.0.0.1", "app-primary"]);
    const other = issueServer(ca, ["x"], NOW, "1111111111111111");
    assert.throws(() => checkServerPair({ cert: server.cert, key: other.key }, ca.cert, NOW, "/certs"), (error: unknown) => error instanceof TlsError && /server.key does not belong to \/certs\/server.crt/.test(error.message));
    const stranger = issueCa("other", NOW, "2222222222222222");
    assert.throws(() => checkServerPair(server, stranger.cert, NOW, "/certs"), /not signed by \/certs\/ca.crt/);
    assert.throws(() => checkServerPair(server, ca.cert, new Date("2030-01-01T00:00:00Z"), "/certs"), /expired on 2029-03-10/);
    assert.throws(() => checkServerPair({ cert: "garbage", key: server.key }, ca.cert, NOW, "/certs"), /\/certs\/server.crt is not a PEM certificate/);
    assert.throws(() => checkServerPair({ cert: server.cert, key: "garbage" }, ca.cert, NOW, "/certs"), /\/certs\/server.key is not a PEM private key/);
  });
});
