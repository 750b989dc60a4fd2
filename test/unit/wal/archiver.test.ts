// The agent's WAL archiver against a real directory target and a spool the test plays the server
// side of (what pgfort-archive-wal writes): no Docker, no server. Compression none: the unit
// machine need not have zstd (the integration tests archive with zstd in the image).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileTarget } from "../../../src/backup/targets/file";
import { WalArchiver } from "../../../src/wal/archiver";
import { parseArchiveKey } from "../../../src/wal/names";
import { AGENT_ALIVE_FILE } from "../../../src/wal/spool";

const SEGMENT = "000000010000000000000003";
const quiet = { info: () => undefined, warn: () => undefined };

describe("WAL archiver", function () {
  let directory: string;
  let sockets: string;
  let spool: string;
  let targetRoot: string;
  let alerts: string[];

  beforeEach(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-archiver-"));
    sockets = path.join(directory, "sockets");
    spool = path.join(sockets, "app-primary", "archive");
    mkdirSync(spool, { recursive: true });
    targetRoot = path.join(directory, "target");
    alerts = [];
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  function archiver(root = targetRoot): WalArchiver {
    return new WalArchiver({
      cluster: "app",
      target: new FileTarget(root),
      socketsDir: sockets,
      compression: { method: "none", level: 3 },
      maxPendingBytes: 1024 ** 3,
      notifier: { notify: async (event) => void alerts.push(event.error ?? "") },
      log: quiet,
    });
  }

  function hand(name: string, bytes: Buffer): void {
    writeFileSync(path.join(spool, `${name}.ready`), bytes);
  }

  function stored(): string[] {
    const dir = path.join(targetRoot, "app", "wal");
    return existsSync(dir) ? readdirSync(dir).filter((name) => name !== "gaps") : [];
  }

  it("stores a ready file under its sha256, then answers done", async function () {
    const wal = Buffer.alloc(16 * 1024 * 1024, 1);
    hand(SEGMENT, wal);
    const agent = archiver();
    await agent.tick();
    const [name] = stored();
    const archived = parseArchiveKey("app", `app/wal/${name ?? ""}`);
    assert.equal(archived?.name, SEGMENT);
    assert.equal(archived?.sha256, createHash("sha256").update(wal).digest("hex"));
    assert.deepEqual(readFileSync(path.join(targetRoot, "app", "wal", name ?? "")), wal);
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.done`)));
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.ready`)));
    assert.ok(statSync(path.join(sockets, AGENT_ALIVE_FILE)).mtimeMs > Date.now() - 5000, "the alive mark is fresh");
    assert.equal(agent.health().ok, true);
  });

  it("a file handed over again with the same bytes writes nothing new (write-once)", async function () {
    const wal = Buffer.from("same bytes");
    hand(SEGMENT, wal);
    const agent = archiver();
    await agent.tick();
    const [first] = stored();
    const before = statSync(path.join(targetRoot, "app", "wal", first ?? "")).mtimeMs;
    rmSync(path.join(spool, `${SEGMENT}.done`));
    hand(SEGMENT, wal);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await agent.tick();
    assert.deepEqual(stored(), [first]);
    assert.equal(statSync(path.join(targetRoot, "app", "wal", first ?? "")).mtimeMs, before, "not rewritten");
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.done`)));
  });

  it("a copy under the right name that is not whole (a write the server kept half of) is damage: said, kept, never counted as stored", async function () {
    const wal = Buffer.alloc(1024 * 1024, 7);
    hand(SEGMENT, wal);
    const agent = archiver();
    await agent.tick();
    const [first] = stored();
    const file = path.join(targetRoot, "app", "wal", first ?? "");
    writeFileSync(file, wal.subarray(0, 4096));
    rmSync(path.join(spool, `${SEGMENT}.done`));
    hand(SEGMENT, wal);
    await agent.tick(new Date(Date.now() + 60_000));
    assert.match(readFileSync(path.join(spool, `${SEGMENT}.failed`), "utf8"), /is in the archive under the right name but is not whole \(4096 bytes; this file stores as 1048576\)/);
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.ready`)), "kept in pg_wal for the retry");
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.done`)));
    assert.equal(readFileSync(file).length, 4096, "never written over");
    assert.match(alerts.join("\n"), /not whole/);
  });

  it("the same name with other bytes is refused, never overwritten, and alerts", async function () {
    hand(SEGMENT, Buffer.from("first timeline 1"));
    const agent = archiver();
    await agent.tick();
    rmSync(path.join(spool, `${SEGMENT}.done`));
    hand(SEGMENT, Buffer.from("another server's timeline 1"));
    await agent.tick(new Date(Date.now() + 60_000));
    assert.equal(stored().length, 1);
    assert.match(readFileSync(path.join(spool, `${SEGMENT}.failed`), "utf8"), /is in the archive already with other content/);
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.ready`)), "kept for the retry");
    assert.equal(agent.health().ok, false);
    assert.match(alerts.join("\n"), /other content/);
  });

  it("while the target fails: answers failed, backs off, says so on /healthz, and recovers", async function () {
    writeFileSync(path.join(directory, "not-a-directory"), "");
    hand(SEGMENT, Buffer.from("wal"));
    writeFileSync(path.join(spool, "pending"), `50331648 ${SEGMENT}\n`);
    const broken = archiver(path.join(directory, "not-a-directory", "target"));
    const now = new Date();
    await broken.tick(now);
    assert.match(readFileSync(path.join(spool, `${SEGMENT}.failed`), "utf8"), /not-a-directory/);
    const health = broken.health(now);
    assert.equal(health.ok, false);
    assert.match(health.reason, /storing WAL fails since .*; 48 MiB of WAL waiting, wal.maxPending 1024 MiB/);
    rmSync(path.join(spool, `${SEGMENT}.failed`));
    await broken.tick(new Date(now.getTime() + 500));
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.failed`)), "no new attempt within the back-off");
    assert.equal(alerts.length, 1, "one alert for the streak");
    // The target is back (here: the same archiver's target path becomes writable).
    rmSync(path.join(directory, "not-a-directory"));
    await broken.tick(new Date(now.getTime() + 5000));
    assert.ok(existsSync(path.join(spool, `${SEGMENT}.done`)));
    assert.equal(broken.health().ok, true);
    assert.match(broken.health().reason, /32 MiB of WAL waiting/, "the file the backlog was measured with has left it");
  });

  it("a skip mark becomes a gap record in the target, a metric and an alert", async function () {
    writeFileSync(path.join(spool, `${SEGMENT}.skipped`), "2026-12-02T07:00:00Z 2214592512\n");
    const agent = archiver();
    await agent.tick();
    const record = JSON.parse(readFileSync(path.join(targetRoot, "app", "wal", "gaps", `${SEGMENT}.app-primary.json`), "utf8")) as Record<string, unknown>;
    assert.equal(record["name"], SEGMENT);
    assert.equal(record["pendingBytes"], 2214592512);
    assert.equal(record["skippedAt"], "2026-12-02T07:00:00Z");
    assert.ok(!existsSync(path.join(spool, `${SEGMENT}.skipped`)));
    assert.equal(agent.health().ok, false);
    assert.match(agent.health().reason, /given up unarchived/);
    assert.match(alerts.join("\n"), /gave 000000010000000000000003 up unarchived/);
    assert.match(await agent.registry.metrics(), /pgfort_wal_archive_gaps_total 1/);
  });

  it("stores every file handed over in one round and answers each", async function () {
    const names = ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006", "000000010000000000000007"];
    for (const [index, name] of names.entries()) hand(name, Buffer.alloc(1024, index));
    const agent = archiver();
    assert.equal(await agent.tick(), names.length);
    assert.deepEqual(stored().map((key) => key.slice(0, 24)).sort(), names);
    for (const name of names) assert.ok(existsSync(path.join(spool, `${name}.done`)), `${name} answered`);
    assert.equal(await agent.tick(), 0, "nothing left: the next round waits");
  });

  it("a failing target answers failed to every file of the round that was tried, and stops the round", async function () {
    writeFileSync(path.join(directory, "not-a-directory"), "");
    const names = ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006"];
    for (const name of names) hand(name, Buffer.from(name));
    const broken = archiver(path.join(directory, "not-a-directory", "target"));
    assert.equal(await broken.tick(), 0);
    const failed = names.filter((name) => existsSync(path.join(spool, `${name}.failed`)));
    // Three stored at once (the archiver's PARALLEL_STORES): each of those answered, the fourth left for after the back-off.
    assert.deepEqual(failed, names.slice(0, 3));
    for (const name of names) assert.ok(existsSync(path.join(spool, `${name}.ready`)), `${name} kept for the retry`);
    assert.equal(alerts.length, 1, "one alert for the round");
  });
});
