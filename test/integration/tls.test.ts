// TLS by default (issue 13): every network connection of a pgfort cluster is encrypted and
// verifiable. Checked as clients see it: psql with sslmode=verify-full and the cluster's CA on the
// cluster network, `pg` over the published port, pg_stat_ssl on the server, and the certificate a
// new connection is served after `tls rotate`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { TLSSocket } from "node:tls";
import { Client } from "pg";
import { issueCa } from "../../src/tls/certificates";
import { IMAGE, connectTcp, psql } from "./postgres";
import { eventually } from "./waiting";
import { freePort, Workspace } from "./workspace";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** psql in a throwaway container of the image on the cluster's network, the CA mounted: a client on another host. */
function psqlOnNetwork(cluster: string, conninfo: string, sql: string, password: string, caFile: string): Promise<Run> {
  const args = ["run", "--rm", "--label", `pgfort.cluster=${cluster}`, "--network", `${cluster}-net`, "-v", `${caFile}:/ca.crt:ro`, "-e", `PGPASSWORD=${password}`, "--entrypoint", "psql", IMAGE, conninfo, "-X", "-A", "-t", "-c", sql];
  return new Promise((resolve) => execFile("docker", args, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout: stdout.trim(), stderr })));
}

/** The certificate the server presented to this client. */
function peerFingerprint(client: Client): string {
  const stream = (client as unknown as { connection: { stream: unknown } }).connection.stream;
  assert.ok(stream instanceof TLSSocket, "the connection is not TLS");
  return stream.getPeerCertificate().fingerprint256;
}

describe("TLS by default", function () {
  let workspace: Workspace;
  let port: number;
  let poolerPort: number;
  let password: string;
  let caFile: string;

  // A cluster per test (the hooks remove workspaces after each), with a replica.
  beforeEach(async function () {
    port = await freePort();
    poolerPort = await freePort();
    workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 256m, cpus: 1 }\nreplicas: [ { name: r1, resources: { memory: 256m, cpus: 1 } } ]\npooler: { port: ${poolerPort} }\n`);
    const up = await workspace.ok("up");
    caFile = workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt");
    assert.match(up.stdout, new RegExp(`sslmode=verify-full sslrootcert=${caFile.replace(/[.]/g, "\\.")}`), up.stdout);
    password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();
  });

  it("connects with verify-full, refuses plain TCP and another CA, and the replica streams over TLS", async function () {
    const primary = `${workspace.cluster}-primary`;
    const verified = await psqlOnNetwork(workspace.cluster, `host=${primary} user=postgres dbname=postgres sslmode=verify-full sslrootcert=/ca.crt`, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", password, caFile);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(verified.stdout, "t");
    const plain = await psqlOnNetwork(workspace.cluster, `host=${primary} user=postgres dbname=postgres sslmode=disable`, "SELECT 1", password, caFile);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /no pg_hba.conf entry .* no encryption/);
    // A client that trusts another CA does not accept the server: the certificate is really checked.
    const strangerCa = workspace.path("stranger-ca.crt");
    await writeFile(strangerCa, issueCa("stranger", new Date(), "0123456789abcdef").cert);
    const stranger = await psqlOnNetwork(workspace.cluster, `host=${primary} user=postgres dbname=postgres sslmode=verify-full sslrootcert=/ca.crt`, "SELECT 1", password, strangerCa);
    assert.notEqual(stranger.code, 0);
    assert.match(stranger.stderr, /certificate verify failed/);

    // From the host, over the published port, by address (the certificate names 127.0.0.1).
    const client = await connectTcp(port, "postgres", password, "postgres", caFile);
    try {
      assert.equal((await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0]?.ssl, true);
    } finally {
      await client.end();
    }
    await assert.rejects(connectTcp(port, "postgres", password), /no encryption/);

    // The replica's walreceiver: TLS on the primary's side, verify-full on the replica's.
    assert.equal(await psql(primary, "SELECT string_agg(r.application_name || ':' || s.ssl, ',') FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"), "r1:true");
    assert.match(await psql(`${workspace.cluster}-r1`, "SHOW primary_conninfo"), /sslmode=verify-full sslrootcert=\/run\/secrets\/tls-ca\.crt/);

    // Keys: 0600 on the host, never in a container's log.
    for (const key of ["ca.key", "server.key"]) assert.equal((await stat(workspace.path(".pgfort", workspace.cluster, "tls", key))).mode & 0o777, 0o600);
    const logs = await new Promise<string>((resolve) => execFile("docker", ["logs", primary], (_error, stdout, stderr) => resolve(stdout + stderr)));
    assert.ok(!logs.includes("PRIVATE KEY"), "a key in the primary's log");
  });

  it("tls rotate: new connections get the new certificate, open ones stay up, the replica keeps streaming", async function () {
    const primary = `${workspace.cluster}-primary`;
    const held = await connectTcp(port, "postgres", password, "postgres", caFile);
    held.on("error", () => undefined);
    try {
      const before = peerFingerprint(held);
      const walreceiver = await psql(primary, "SELECT pid FROM pg_stat_replication WHERE application_name = 'r1'");
      const rotated = await workspace.ok("tls", "rotate", "--json");
      const result = JSON.parse(rotated.stdout) as { fingerprint: string; servers: Array<{ container: string }> };
      assert.deepEqual(result.servers.map((server) => server.container).sort(), [`${workspace.cluster}-pooler`, primary, `${workspace.cluster}-r1`]);
      const onDisk = new X509Certificate(await readFile(workspace.path(".pgfort", workspace.cluster, "tls", "server.crt"))).fingerprint256;
      assert.equal(result.fingerprint, onDisk);
      assert.notEqual(onDisk, before);

      for (const [what, published] of [["server", port], ["pooler", poolerPort]] as const) {
        const fresh = await connectTcp(published, "postgres", password, "postgres", caFile);
        try {
          assert.equal(peerFingerprint(fresh), onDisk, `a new connection to the ${what} still sees the former certificate`);
        } finally {
          await fresh.end();
        }
      }
      assert.equal((await held.query<{ n: number }>("SELECT 41 + 1 AS n")).rows[0]?.n, 42, "the open connection did not survive the rotation");
      assert.equal(peerFingerprint(held), before);
      // The replica's connection was not restarted either: the same walreceiver, still streaming.
      await eventually(10_000, async () => assert.equal(await psql(primary, "SELECT pid || ':' || state FROM pg_stat_replication WHERE application_name = 'r1'"), `${walreceiver}:streaming`));
    } finally {
      await held.end();
    }
  });
});
