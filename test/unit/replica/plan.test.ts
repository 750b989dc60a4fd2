import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { parseConfig } from "../../../src/config/load";
import { ConfigError } from "../../../src/errors";
import { planReplicaSpec, slotName, validateReplicaName } from "../../../src/replica/plan";
import { scramVerifier } from "../../../src/replica/scram";

describe("replica planning", function () {
  it("runs the replica with the primary's limits and settings unless its entry says otherwise", function () {
    const config = parseConfig(`
cluster: app
primary: { resources: { memory: 2g, cpus: 2 }, settings: { max_connections: 300 } }
replicas: [ { name: r1 }, { name: r2, resources: { memory: 1g }, settings: { work_mem: 16MB } } ]
`);
    const r1 = planReplicaSpec(config, "r1", "primary");
    assert.equal(r1.resources.memory, 2 * 1024 ** 3);
    assert.equal(r1.settings["max_connections"], 300);
    assert.equal(r1.role, "replica");
    const r2 = planReplicaSpec(config, "r2", "primary");
    assert.equal(r2.resources.memory, 1024 ** 3);
    assert.equal(r2.resources.cpus, 2);
    assert.deepEqual(r2.settings, { max_connections: 300, work_mem: "16MB" });
  });

  it("points replica mode at the current primary, through a slot, with the password as a file", function () {
    const config = parseConfig("cluster: app");
    const env = planReplicaSpec(config, "r-east", "r1").extraEnv ?? [];
    assert.ok(env.includes("PGFORT_PRIMARY_HOST=app-r1"));
    assert.ok(env.includes("PGFORT_REPLICATION_SLOT=r_east"));
    assert.ok(env.includes("PGFORT_REPLICATION_PASSWORD_FILE=/run/secrets/replication-password"));
    assert.ok(env.includes("PGFORT_NODE_NAME=r-east"));
    assert.ok(!env.some((entry) => /PASSWORD=/.test(entry)));
  });

  it("names slots with underscores and rejects bad or reserved names", function () {
    assert.equal(slotName("r-east-1"), "r_east_1");
    assert.throws(() => validateReplicaName("R1", "primary"), ConfigError);
    assert.throws(() => validateReplicaName("r1;drop", "primary"), ConfigError);
    assert.throws(() => validateReplicaName("primary", "r1"), /reserved/);
    assert.throws(() => validateReplicaName("r1", "r1"), /reserved/);
    assert.doesNotThrow(() => validateReplicaName("r1", "primary"));
  });
});

describe("scramVerifier", function () {
  it("builds PostgreSQL's SCRAM-SHA-256 verifier format from salt and iterations", function () {
    const salt = Buffer.from("0123456789abcdef");
    const verifier = scramVerifier("pencil", salt, 4096);
    const match = /^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    assert.ok(match, verifier);
    assert.equal(Buffer.from(match[1] ?? "", "base64").toString(), "0123456789abcdef");
    // StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key")
    const salted = pbkdf2Sync("pencil", salt, 4096, 32, "sha256");
    const stored = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
    assert.equal(match[2], stored);
    assert.equal(match[3], createHmac("sha256", salted).update("Server Key").digest("base64"));
    assert.notEqual(scramVerifier("pencil"), scramVerifier("pencil"), "a random salt each time");
  });

  it("refuses passwords it cannot encode without SASLprep", function () {
    assert.throws(() => scramVerifier("pässword"), /printable ASCII/);
  });
});
