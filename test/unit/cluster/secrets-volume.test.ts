import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { tarEntries } from "../tar-entries";
import { planSecretsArchive, syncSecretsVolume } from "../../../src/cluster/secrets-volume";
import { FakeSecretsEngine } from "../fake-secrets-engine";

const entries = tarEntries;

describe("secrets volume", function () {
  let stateDir: string;
  beforeEach(async function () {
    stateDir = await mkdtemp(path.join(os.tmpdir(), "pgfort-secrets-"));
  });
  afterEach(async function () {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("archives each secret owned by uid 999, readable by it only", async function () {
    const { archive, digest } = await planSecretsArchive([
      { name: "replication-password", content: "r" },
      { name: "postgres-password", content: "p" },
    ]);
    assert.deepEqual(await entries(archive), [
      { name: "postgres-password", mode: 0o400, uid: 999, gid: 999, content: "p" },
      { name: "replication-password", mode: 0o400, uid: 999, gid: 999, content: "r" },
    ]);
    assert.equal((await planSecretsArchive([{ name: "postgres-password", content: "p" }, { name: "replication-password", content: "r" }])).digest, digest);
    assert.notEqual((await planSecretsArchive([{ name: "postgres-password", content: "q" }, { name: "replication-password", content: "r" }])).digest, digest);
  });

  it("copies once, again only when a secret file changes, and keeps host files 0600", async function () {
    const engine = new FakeSecretsEngine();
    assert.equal(await syncSecretsVolume(engine, "app", "pgfort/postgres:15", stateDir), true);
    const carrier = engine.containers.get("app-secrets");
    assert.equal(carrier?.Labels?.["pgfort.cluster"], "app");
    assert.deepEqual(carrier?.HostConfig?.Mounts, [{ Type: "volume", Source: "app-secrets", Target: "/run/secrets" }]);
    assert.ok(engine.volumes.has("app-secrets"));
    assert.equal(engine.copies.length, 1);
    assert.equal(engine.copies[0]?.directory, "/run/secrets");
    assert.deepEqual((await entries(engine.copies[0]?.archive ?? Buffer.alloc(0))).map((entry) => entry.name), ["postgres-password", "replication-password", "tls-ca.crt", "tls-server.crt", "tls-server.key"]);
    assert.equal((await stat(path.join(stateDir, "secrets", "postgres-password"))).mode & 0o777, 0o600);

    assert.equal(await syncSecretsVolume(engine, "app", "pgfort/postgres:15", stateDir), false);
    assert.equal(engine.copies.length, 1);

    await writeFile(path.join(stateDir, "secrets", "postgres-password"), "rotated");
    assert.equal(await syncSecretsVolume(engine, "app", "pgfort/postgres:15", stateDir), true);
    const last = await entries(engine.copies[1]?.archive ?? Buffer.alloc(0));
    assert.equal(last.find((entry) => entry.name === "postgres-password")?.content, "rotated");
  });

  it("copies again when the volume is gone, and leaves no carrier when the copy fails", async function () {
    const engine = new FakeSecretsEngine();
    await syncSecretsVolume(engine, "app", "img", stateDir);
    engine.volumes.clear();
    assert.equal(await syncSecretsVolume(engine, "app", "img", stateDir), true);
    engine.volumes.clear();
    engine.putArchive = async () => {
      throw new Error("no space left on device");
    };
    await assert.rejects(syncSecretsVolume(engine, "app", "img", stateDir), /no space/);
    assert.equal(engine.containers.has("app-secrets"), false);
  });
});
