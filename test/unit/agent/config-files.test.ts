import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { tarEntries } from "../tar-entries";
import { prepareTargetDirectory, syncAgentConfig, writableByAgent, type AgentConfigEngine } from "../../../src/cluster/agent";
import { writeTopology } from "../../../src/cluster/topology";
import { parseConfig, type LoadedConfig } from "../../../src/config/load";
import { FakeSecretsEngine } from "../fake-secrets-engine";

async function archiveFiles(archive: Buffer): Promise<Map<string, string>> {
  return new Map((await tarEntries(archive)).map((entry) => [entry.name, entry.content]));
}

/** The engine as syncAgentConfig sees it: the secrets volume's engine, plus the labelled servers. */
class FakeEngine extends FakeSecretsEngine implements AgentConfigEngine {
  constructor(readonly servers: Array<{ role: string; node: string }>) {
    super();
  }
  async listLabelled() {
    return { containers: this.servers.map(({ role, node }) => ({ Labels: { "pgfort.cluster": "app", "pgfort.role": role, "pgfort.node": node } })) };
  }
  async lastCopy(): Promise<Map<string, string>> {
    return archiveFiles(this.copies[this.copies.length - 1]?.archive ?? Buffer.alloc(0));
  }
}

describe("syncAgentConfig", function () {
  let directory: string;
  beforeEach(async function () {
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-agent-"));
  });
  afterEach(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  async function workspace(yaml: string): Promise<LoadedConfig> {
    const file = path.join(directory, "pgfort.yaml");
    await writeFile(file, yaml);
    return { config: parseConfig(yaml), file, baseDir: directory, stateDir: path.join(directory, ".pgfort", "app") };
  }

  it("writes agent.json (0600) into the secrets volume with the servers the engine has, fenced primary left out", async function () {
    const yaml = "cluster: app\nbackups:\n  jobs: [{ name: nightly, kind: logical, schedule: '* * * * *' }]\n";
    const loaded = await workspace(yaml);
    await writeTopology(loaded.stateDir, { primary: "r1", promotedAt: "2026-12-01T00:00:00Z" });
    const engine = new FakeEngine([
      { role: "primary", node: "primary" },
      { role: "replica", node: "r1" },
      { role: "replica", node: "r2" },
      { role: "agent", node: "agent" },
      { role: "backup", node: "backup" },
    ]);
    const synced = await syncAgentConfig(engine, loaded, {});
    const host = path.join(loaded.stateDir, "secrets", "agent.json");
    assert.equal((await stat(host)).mode & 0o777, 0o600);
    const files = await engine.lastCopy();
    assert.deepEqual([...files.keys()].sort(), ["agent.json", "postgres-password", "replication-password", "tls-ca.crt", "tls-server.crt", "tls-server.key"]);
    assert.deepEqual(JSON.parse(files.get("agent.json") ?? ""), {
      formatVersion: 1,
      configText: yaml,
      target: "file:///var/lib/pgfort/target",
      servers: ["app-r1", "app-r2"],
      primaryNode: "r1",
    });
    assert.equal(JSON.parse(await readFile(host, "utf8")).primaryNode, "r1");
    assert.equal(synced.hasCredentials, false);
    assert.deepEqual(synced.warnings, []);
  });

  it("copies the age identity and prune's credentials into the secrets volume (0600), checks them, and drops them when the config names none", async function () {
    const key = "age1" + "q".repeat(58);
    await writeFile(path.join(directory, "identity.txt"), "# created\nAGE-SECRET-KEY-1ABCDEF\n");
    await writeFile(path.join(directory, "prune.ini"), "[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
    const sealed = await workspace(`cluster: app\nbackups:\n  encryption: { recipients: [${key}], identityFile: ./identity.txt }\n  prune: { credentialsFile: ./prune.ini }\n`);
    const engine = new FakeEngine([{ role: "primary", node: "primary" }]);
    await syncAgentConfig(engine, sealed, {});
    const files = await engine.lastCopy();
    assert.equal(files.get("backup-identity"), "# created\nAGE-SECRET-KEY-1ABCDEF\n");
    assert.match(files.get("aws-prune-credentials") ?? "", /aws_access_key_id = A/);
    assert.equal((await stat(path.join(sealed.stateDir, "secrets", "backup-identity"))).mode & 0o777, 0o600);
    // Wrong files: a ConfigError naming the setting, nothing copied.
    await writeFile(path.join(directory, "prune.ini"), "[other]\naws_access_key_id = A\n");
    await assert.rejects(syncAgentConfig(engine, sealed, {}), /backups.prune.credentialsFile .* has no \[default\] profile/);
    await writeFile(path.join(directory, "identity.txt"), "not a key\n");
    await assert.rejects(syncAgentConfig(engine, sealed, {}), /backups.encryption.identityFile .* holds no age identity/);
    // The config names none any more: the copies go.
    await syncAgentConfig(engine, await workspace("cluster: app\n"), {});
    assert.deepEqual([...(await engine.lastCopy()).keys()].sort(), ["agent.json", "postgres-password", "replication-password", "tls-ca.crt", "tls-server.crt", "tls-server.key"]);
  });

  it("keeps the digest across a promotion (same servers), and changes it for a new server or config", async function () {
    const loaded = await workspace("cluster: app\n");
    const servers = [{ role: "primary", node: "primary" }, { role: "replica", node: "r1" }];
    const before = await syncAgentConfig(new FakeEngine(servers), loaded, {});
    await writeTopology(loaded.stateDir, { primary: "r1" });
    // The old primary is fenced, so the servers are r1 alone: a different set.
    const promoted = new FakeEngine([{ role: "primary", node: "primary" }, { role: "replica", node: "r1" }, { role: "replica", node: "r2" }]);
    const after = await syncAgentConfig(promoted, loaded, {});
    assert.deepEqual(JSON.parse((await promoted.lastCopy()).get("agent.json") ?? "").servers, ["app-r1", "app-r2"]);
    assert.notEqual(after.digest, before.digest);
    assert.equal((await syncAgentConfig(promoted, loaded, {})).digest, after.digest);
    await writeFile(path.join(directory, "pgfort.yaml"), "cluster: app\nbackups: { compression: lz4 }\n");
    assert.notEqual((await syncAgentConfig(promoted, loaded, {})).digest, after.digest);
  });

  it("for s3://, writes aws-credentials from the env into the volume, and keeps it when a later shell has none", async function () {
    const loaded = await workspace("cluster: app\nbackups: { target: s3://bucket/prefix }\n");
    const engine = new FakeEngine([{ role: "primary", node: "primary" }]);
    const env = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s3cr3t" };
    const first = await syncAgentConfig(engine, loaded, env);
    assert.equal(first.hasCredentials, true);
    const files = await engine.lastCopy();
    assert.equal(files.get("aws-credentials"), "[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr3t\n");
    assert.doesNotMatch(files.get("agent.json") ?? "", /s3cr3t/);
    assert.equal((await stat(path.join(loaded.stateDir, "secrets", "aws-credentials"))).mode & 0o777, 0o600);

    const later = await syncAgentConfig(engine, loaded, {});
    assert.equal(later.digest, first.digest);
    assert.equal(later.hasCredentials, true);
    const rotated = await syncAgentConfig(engine, loaded, { ...env, AWS_SECRET_ACCESS_KEY: "rotated" });
    assert.notEqual(rotated.digest, first.digest);
  });

  it("warns when an s3:// agent has no credentials at all", async function () {
    const loaded = await workspace("cluster: app\nbackups: { target: s3://bucket/prefix }\n");
    const synced = await syncAgentConfig(new FakeEngine([{ role: "primary", node: "primary" }]), loaded, {});
    assert.equal(synced.hasCredentials, false);
    assert.match(synced.warnings.join("\n"), /no S3 credentials: set AWS_ACCESS_KEY_ID/);
  });
});

describe("the target directory and the agent's uid", function () {
  it("tells which owners and modes let uid 999 write", function () {
    assert.equal(writableByAgent({ uid: 999, gid: 0, mode: 0o700 }), true);
    assert.equal(writableByAgent({ uid: 999, gid: 0, mode: 0o500 }), false);
    assert.equal(writableByAgent({ uid: 1000, gid: 999, mode: 0o770 }), true);
    assert.equal(writableByAgent({ uid: 1000, gid: 1000, mode: 0o755 }), false);
    assert.equal(writableByAgent({ uid: 0, gid: 0, mode: 0o1777 }), true);
  });

  // chown needs root: the test suite runs as root (as CI does); as another user this test fails.
  it("as root, creates <dir>/<cluster> and gives the tree to uid 999", async function () {
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-target-"));
    try {
      const target = path.join(directory, "backups");
      await mkdir(path.join(target, "app", "logical", "old"), { recursive: true });
      await writeFile(path.join(target, "app", "logical", "old", "manifest.json"), "{}");
      assert.deepEqual(await prepareTargetDirectory(target, "app"), []);
      for (const entry of [target, path.join(target, "app"), path.join(target, "app", "logical", "old"), path.join(target, "app", "logical", "old", "manifest.json")]) {
        assert.equal((await stat(entry)).uid, 999, entry);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
