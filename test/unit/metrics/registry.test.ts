import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import { FileTarget } from "../../../src/backup/targets/file";
import { createDatabaseMetrics } from "../../../src/metrics/database-metrics";
import { LastVerifiedReader, newestPassedSeconds } from "../../../src/metrics/last-verified";
import type { BackupEntry } from "../../../src/backup/catalog";

/** A port that accepts TCP connections and never answers: a hung server. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("metrics: the registry", function () {
  let directory: string;
  beforeEach(async function () {
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-metrics-"));
    await writeFile(path.join(directory, "postgres-password"), "secret\n");
  });
  afterEach(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  it("a refused and a hung server are pg_up 0 within the timeout, with the cause told, and merge with other registries", async function () {
    const hung = await silentServer();
    const errors: string[] = [];
    const metrics = createDatabaseMetrics({
      servers: [
        { node: "primary", host: "127.0.0.1", port: await closedPort() },
        { node: "r1", host: "127.0.0.1", port: hung.port },
      ],
      passwordFile: path.join(directory, "postgres-password"),
      timeoutMs: 500,
      onError: (scope, error) => errors.push(`${scope}: ${String(error)}`),
    });
    try {
      const started = Date.now();
      const text = await Registry.merge([metrics.registry, new Registry()]).metrics();
      assert.ok(Date.now() - started < 2_000, `the scrape took ${Date.now() - started} ms`);
      assert.match(text, /^pg_up\{node="primary"\} 0$/m);
      assert.match(text, /^pg_up\{node="r1"\} 0$/m);
      assert.match(text, /^# TYPE pg_stat_bgwriter_checkpoints_timed_total counter$/m);
      assert.doesNotMatch(text, /^pg_stat_activity_count\{/m);
      assert.equal(errors.length, 2, errors.join("\n"));
      assert.ok(errors.some((error) => /^server r1: .*did not answer within 500 ms/.test(error)), errors.join("\n"));
      assert.ok(errors.every((error) => !error.includes("secret")), "the password is in no message");
    } finally {
      await metrics.close();
      await hung.close();
    }
  });

  it("a missing password file makes every server pg_up 0, and says so", async function () {
    const errors: string[] = [];
    const metrics = createDatabaseMetrics({
      servers: [{ node: "primary", host: "127.0.0.1", port: await closedPort() }],
      passwordFile: path.join(directory, "absent"),
      onError: (scope) => errors.push(scope),
    });
    assert.match(await metrics.registry.metrics(), /^pg_up\{node="primary"\} 0$/m);
    assert.deepEqual(errors, [`password file ${path.join(directory, "absent")}`]);
    await metrics.close();
    assert.doesNotMatch(await metrics.registry.metrics(), /^pg_up/m, "a closed collector serves nothing");
  });

  it("serves the newest passed drill's time from the target, read at most once per cacheMs", async function () {
    const id = "20261201T030000Z-abc123";
    const backupDirectory = path.join(directory, "target", "app", "logical", id);
    await mkdir(backupDirectory, { recursive: true });
    const manifest = {
      formatVersion: 1, id, cluster: "app", kind: "logical", job: null, source: "app-primary",
      files: [{ name: "app.pgcustom", content: "database", database: "app", bytes: 1, rawBytes: 1, sha256: "a".repeat(64), compression: "none" }],
      pgVersion: "15.18", databases: ["app"], startedAt: "2026-12-01T03:00:00Z", finishedAt: "2026-12-01T03:00:05Z",
      tool: { name: "pgfort", version: "0.1.0" }, compression: { method: "none", level: 0 },
    };
    await writeFile(path.join(backupDirectory, "app.pgcustom"), "x");
    await writeFile(path.join(backupDirectory, "manifest.json"), JSON.stringify(manifest));
    const verdict = (status: string, verifiedAt: string) =>
      JSON.stringify({ formatVersion: 2, id, status, verifiedAt, checks: [], tool: { name: "pgfort", version: "0.1.0" } });
    await writeFile(path.join(backupDirectory, "verify-20261201T040000000Z-aaaaaa.json"), verdict("passed", "2026-12-01T04:00:00.000Z"));

    let now = 0;
    const reader = new LastVerifiedReader({ target: new FileTarget(path.join(directory, "target")), cluster: "app", cacheMs: 60_000 }, (error) => assert.fail(String(error)), () => now);
    assert.equal(await reader.read(), Date.parse("2026-12-01T04:00:00.000Z") / 1000);
    await writeFile(path.join(backupDirectory, "verify-20261202T040000000Z-bbbbbb.json"), verdict("failed", "2026-12-02T04:00:00.000Z"));
    now = 59_000;
    assert.equal(await reader.read(), Date.parse("2026-12-01T04:00:00.000Z") / 1000, "cached");
    now = 60_000;
    assert.equal(await reader.read(), null, "the newest verdict failed: the backup no longer counts as drilled");

    const metrics = createDatabaseMetrics({
      servers: [],
      passwordFile: path.join(directory, "postgres-password"),
      backups: { target: new FileTarget(path.join(directory, "target")), cluster: "app" },
    });
    await writeFile(path.join(backupDirectory, "verify-20261203T040000000Z-cccccc.json"), verdict("passed", "2026-12-03T04:00:00.000Z"));
    assert.match(await metrics.registry.metrics(), new RegExp(`^pgfort_backup_last_verified_timestamp_seconds ${Date.parse("2026-12-03T04:00:00.000Z") / 1000}$`, "m"));
    await metrics.close();
  });

  it("the newest passed verdict over all backups; none when none passed", function () {
    const entry = (verified: BackupEntry["verified"], verifiedAt: string | null) => ({ verified, verifiedAt }) as BackupEntry;
    assert.equal(newestPassedSeconds([entry("passed", "2026-12-01T00:00:00Z"), entry("passed", "2026-12-02T00:00:00Z"), entry("failed", "2026-12-03T00:00:00Z")]), Date.parse("2026-12-02T00:00:00Z") / 1000);
    assert.equal(newestPassedSeconds([entry("failed", "2026-12-03T00:00:00Z"), entry(null, null)]), null);
  });
});
