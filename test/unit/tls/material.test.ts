// The cluster's TLS files on the host: made once, issued again only when a name is missing, near
// the end, or on rotate; a certificate never loses a name; tls.certDir's files are checked.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureTls } from "../../../src/tls/material";

const NOW = new Date("2026-12-06T12:00:00Z");

describe("ensureTls", function () {
  let stateDir: string;
  beforeEach(() => (stateDir = path.join(mkdtempSync(path.join(os.tmpdir(), "pgfort-tls-")), ".pgfort", "app")));
  afterEach(() => rmSync(path.dirname(path.dirname(stateDir)), { recursive: true, force: true }));
  const mode = (file: string): number => statSync(path.join(stateDir, "tls", file)).mode & 0o777;

  it("makes a CA and a server certificate once, keys 0600, and keeps them", async function () {
    const first = await ensureTls(stateDir, {}, ["localhost", "app-primary"], { now: NOW });
    assert.equal(first.changed, true);
    assert.equal(first.caFile, path.join(stateDir, "tls", "ca.crt"));
    assert.deepEqual([mode("ca.key"), mode("server.key"), mode("ca.crt"), mode("server.crt"), statSync(path.join(stateDir, "tls")).mode & 0o777], [0o600, 0o600, 0o644, 0o644, 0o700]);
    const again = await ensureTls(stateDir, {}, ["app-primary"], { now: NOW });
    assert.equal(again.changed, false);
    assert.equal(again.facts.fingerprint, first.facts.fingerprint);
  });

  it("issues again for a new name, keeping the old ones and the CA", async function () {
    const first = await ensureTls(stateDir, {}, ["localhost", "app-primary"], { now: NOW });
    const caBefore = readFileSync(first.caFile, "utf8");
    const next = await ensureTls(stateDir, {}, ["app-r2"], { now: NOW });
    assert.equal(next.changed, true);
    assert.deepEqual(next.facts.names, ["localhost", "app-primary", "app-r2"]);
    assert.equal(readFileSync(first.caFile, "utf8"), caBefore);
    assert.ok(new X509Certificate(next.server.cert).verify(new X509Certificate(caBefore).publicKey));
  });

  it("renews within 30 days of the end, and on rotate with the same names", async function () {
    const first = await ensureTls(stateDir, {}, ["localhost"], { now: NOW });
    const late = await ensureTls(stateDir, {}, ["localhost"], { now: new Date(first.facts.notAfter.getTime() - 29 * 86_400_000) });
    assert.equal(late.changed, true);
    const rotated = await ensureTls(stateDir, {}, [], { now: NOW, rotate: true });
    assert.equal(rotated.changed, true);
    assert.notEqual(rotated.facts.fingerprint, late.facts.fingerprint);
    assert.deepEqual(rotated.facts.names, ["localhost"]);
  });

  it("takes tls.certDir's files, reports names they lack, and says which file is missing", async function () {
    const issued = await ensureTls(stateDir, {}, ["localhost"], { now: NOW });
    const certDir = path.join(path.dirname(stateDir), "mine");
    cpSync(path.join(stateDir, "tls"), certDir, { recursive: true });
    const taken = await ensureTls(stateDir, { certDir }, ["localhost", "app-primary"], { now: NOW });
    assert.equal(taken.changed, true);
    assert.equal(taken.facts.fingerprint, issued.facts.fingerprint);
    assert.equal(taken.caFile, path.join(certDir, "ca.crt"));
    assert.deepEqual(taken.missingNames, ["app-primary"]);
    assert.equal((await ensureTls(stateDir, { certDir }, ["localhost"], { now: NOW })).changed, false);
    writeFileSync(path.join(certDir, "server.key"), readFileSync(path.join(stateDir, "tls", "ca.key")));
    await assert.rejects(ensureTls(stateDir, { certDir }, [], { now: NOW }), /server.key does not belong to/);
    rmSync(path.join(certDir, "ca.crt"));
    await assert.rejects(ensureTls(stateDir, { certDir }, [], { now: NOW }), /has no ca.crt/);
  });
});
