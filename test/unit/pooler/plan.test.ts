import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../../../src/config/load";
import { planPooler, poolSizeOf, renderPoolerFiles } from "../../../src/pooler/plan";
import { tlsNames } from "../../../src/tls/cluster";
import { packagePath } from "../../../src/paths";
import { renderPoolerAuth } from "../../../src/pooler/auth";

const config = (yaml: string) => parseConfig(yaml);

describe("the pooler's plan", function () {
  it("sends every database to the primary's socket, authenticates with SCRAM against the server, and requires TLS", function () {
    const cluster = config("cluster: app\npooler: {}");
    const files = renderPoolerFiles(cluster, cluster.pooler!, "primary");
    const ini = files.get("pgbouncer.ini") ?? "";
    assert.match(ini, /^\* = host=\/var\/run\/pgfort-sockets\/app-primary port=5432 auth_user=postgres$/m);
    assert.match(ini, /^auth_type = hba$/m);
    assert.match(ini, /^auth_query = SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = \$1$/m);
    assert.match(ini, /^pool_mode = transaction$/m);
    assert.match(ini, /^max_client_conn = 1000$/m);
    assert.match(ini, /^client_tls_sslmode = require$/m);
    assert.match(ini, /^client_tls_key_file = \/run\/secrets\/tls-server.key$/m);
    assert.match(ini, /^auth_file = \/run\/secrets\/pooler-users.txt$/m);
    assert.doesNotMatch(ini, /password/i, "no password file, no password");
    const hba = (files.get("hba.conf") ?? "").split("\n").filter((line) => line && !line.startsWith("#"));
    assert.deepEqual(hba.map((line) => line.split(/\s+/)), [
      ["local", "pgbouncer", "postgres", "peer"],
      ["hostssl", "all", "all", "0.0.0.0/0", "scram-sha-256"],
      ["hostssl", "all", "all", "::/0", "scram-sha-256"],
    ]);
    // After a promotion of r1, the same file names r1's socket.
    assert.match(renderPoolerFiles(cluster, cluster.pooler!, "r1").get("pgbouncer.ini") ?? "", /^\* = host=\/var\/run\/pgfort-sockets\/app-r1 /m);
  });

  it("sizes pools below the primary's max_connections, or as configured", function () {
    const fifty = config("primary: { settings: { max_connections: 50 } }\npooler: { maxClientConn: 600, poolMode: session }");
    assert.equal(poolSizeOf(fifty, fifty.pooler!), 30);
    const ini = renderPoolerFiles(fifty, fifty.pooler!, "primary").get("pgbouncer.ini") ?? "";
    assert.match(ini, /^default_pool_size = 30$/m);
    assert.match(ini, /^max_db_connections = 30$/m);
    assert.match(ini, /^pool_mode = session$/m);
    const fixed = config("pooler: { poolSize: 7 }");
    assert.equal(poolSizeOf(fixed, fixed.pooler!), 7);
  });

  it("is a hardened container with its own limits, published like the primary, on the socket volume", function () {
    const cluster = config("cluster: app\nprimary: { bind: 10.0.0.5 }\npooler: { port: 7432, resources: { memory: 64m } }");
    const plan = planPooler(cluster, cluster.pooler!, "/state/app", "primary", "sha256:img");
    const host = plan.create.HostConfig ?? {};
    assert.equal(plan.name, "app-pooler");
    assert.equal(plan.create.User, "999:999");
    assert.deepEqual(plan.create.Entrypoint, ["pgfort-pooler"]);
    assert.equal(plan.create.Labels?.["pgfort.role"], "pooler");
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.equal(host.ReadonlyRootfs, true);
    assert.equal(host.Memory, 64 * 1024 ** 2);
    assert.equal(host.NanoCpus, 1e9);
    assert.deepEqual(host.PortBindings, { "6432/tcp": [{ HostIp: "10.0.0.5", HostPort: "7432" }] });
    assert.deepEqual(host.Binds, ["/state/app/pooler:/etc/pgfort-pooler:ro"]);
    assert.deepEqual(host.Mounts?.map((mount) => `${mount.Source}:${mount.Target}:${mount.ReadOnly ? "ro" : "rw"}`), ["app-secrets:/run/secrets:ro", "app-sockets:/var/run/pgfort-sockets:rw"]);
    assert.deepEqual(plan.create.Healthcheck?.Test?.slice(0, 5), ["CMD", "pg_isready", "-q", "-h", "/var/run/pgfort-sockets/app-pooler"]);
    assert.ok(!JSON.stringify(plan.create).includes("PASSWORD"));
    assert.notEqual(planPooler(cluster, { ...cluster.pooler!, port: 7433 }, "/state/app", "primary", "sha256:img").specHash, plan.specHash);
  });

  it("puts the pooler's name into the certificate, and refuses the primary's port", function () {
    assert.ok(tlsNames(config("cluster: app\npooler: {}")).includes("app-pooler"));
    assert.ok(!tlsNames(config("cluster: app")).includes("app-pooler"));
    assert.throws(() => parseConfig("primary: { port: 6000 }\npooler: { port: 6000 }"), /choose another port for the pooler/);
  });
});

describe("the pooler's auth_file", function () {
  it("holds the superuser's SCRAM verifier, the same for the same password, never the password", function () {
    const text = renderPoolerAuth("s3cret-Pass_word");
    assert.equal(renderPoolerAuth("s3cret-Pass_word"), text);
    assert.notEqual(renderPoolerAuth("another"), text);
    assert.ok(!text.includes("s3cret"));
    const match = /^"postgres" "SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)"\n$/.exec(text);
    assert.ok(match, text);
    // The verifier checks the password as a server does (RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key"))).
    const salted = pbkdf2Sync("s3cret-Pass_word", Buffer.from(match[1] ?? "", "base64"), 4096, 32, "sha256");
    const storedKey = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
    assert.equal(storedKey, match[2]);
  });
});

describe("pgfort-pooler (bash)", function () {
  const script = packagePath("images", "postgres", "pgfort-pooler.sh");
  let directory: string;
  beforeEach(() => (directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-pooler-"))));
  afterEach(() => rmSync(directory, { recursive: true, force: true }));
  const bash = (body: string) => spawnSync("bash", ["-euo", "pipefail", "-c", `source "${script}"\n${body}`], { encoding: "utf8" });

  it("makes its 0700 socket directory and clears a predecessor's socket, and says so when it cannot", function () {
    const dir = path.join(directory, "app-pooler");
    assert.equal(bash(`prepare_socket_dir "${dir}"`).status, 0);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    writeFileSync(path.join(dir, ".s.PGSQL.6432"), "");
    writeFileSync(path.join(dir, ".s.PGSQL.6432.lock"), "");
    assert.equal(bash(`prepare_socket_dir "${dir}"`).status, 0);
    assert.deepEqual(readdirSync(dir), []);
    const refused = bash(`prepare_socket_dir "${path.join(directory, "missing", "deeper")}"`);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is not writable by uid/);
  });

  it("refuses to start without its config", function () {
    const run = spawnSync("bash", [script], { env: { PATH: process.env["PATH"] ?? "", PGFORT_POOLER_CONFIG_DIR: directory, PGFORT_POOLER_SOCKET_DIR: directory }, encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /pgbouncer.ini is missing: run pgfort up/);
  });
});
