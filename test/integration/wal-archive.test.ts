// Continuous WAL archiving (issue 11): the primary's archive_command hands every WAL file to the
// agent, which stores it in the target under its sha256; with the agent gone the primary keeps
// running and keeps its WAL; past wal.maxPending it gives WAL up as a recorded, alerted gap.
// Checked with the server's own views (pg_stat_archiver, pg_ls_archive_statusdir) and the files in
// the target, decompressed by zstd in the image and hashed.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { docker, psql, runInImage } from "./postgres";
import { freePort, Workspace } from "./workspace";
import { eventually } from "./waiting";

async function archiveCluster(walYaml = ""): Promise<Workspace> {
  const port = await freePort();
  const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\n${walYaml}`);
  await workspace.ok("up");
  return workspace;
}


/** Writes a little and switches to a new WAL file; the name of the file that was closed. */
async function switchWal(primary: string): Promise<string> {
  await psql(primary, "CREATE TABLE IF NOT EXISTS filler(x int)");
  await psql(primary, "INSERT INTO filler SELECT 1");
  return psql(primary, "SELECT pg_walfile_name(pg_switch_wal())");
}

/** A write that succeeds: the row count after it. */
async function writes(primary: string): Promise<number> {
  await psql(primary, "INSERT INTO filler SELECT 2");
  return Number(await psql(primary, "SELECT count(*) FROM filler"));
}

async function archivedNames(workspace: Workspace): Promise<string[]> {
  const entries = await readdir(workspace.path("backups", workspace.cluster, "wal")).catch((): string[] => []);
  return entries.filter((entry) => entry !== "gaps");
}

async function readyCount(primary: string): Promise<number> {
  return Number(await psql(primary, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
}

describe("WAL archiving", function () {
  this.timeout(600_000);

  it("stores every closed WAL file in the target, whole, under its sha256", async function () {
    const workspace = await archiveCluster();
    const primary = `${workspace.cluster}-primary`;
    assert.equal(await psql(primary, "SHOW archive_mode"), "on");
    const closed = [await switchWal(primary), await switchWal(primary)];
    const stored = await eventually(60_000, async () => {
      const names = await archivedNames(workspace);
      for (const segment of closed) assert.ok(names.some((name) => name.startsWith(`${segment}.`)), `${segment} in ${names.join(", ")}`);
      return names;
    });
    // The server agrees: archived, nothing failed, nothing waiting.
    assert.equal(await psql(primary, "SELECT last_archived_wal FROM pg_stat_archiver"), closed[1]);
    assert.equal(await readyCount(primary), 0);
    // Each stored file decompresses to bytes whose sha256 is the one its name holds.
    const checks = stored
      .filter((name) => /^[0-9A-F]{24}\./.test(name))
      .map((name) => `f=/target/${workspace.cluster}/wal/${name}; want=$(basename "$f" .zst); want=\${want##*.}; got=$(zstd -dc "$f" | sha256sum | cut -d' ' -f1); [ "$got" = "$want" ] || { echo "BAD $f"; exit 1; }; echo ok`);
    const result = await runInImage(workspace.cluster, checks.join("\n"), [`${workspace.path("backups")}:/target:ro`]);
    assert.equal(result.exitCode, 0, result.output);
    assert.equal(result.output.trim().split("\n").filter((line) => line === "ok").length, checks.length);
  });

  it("with the agent stopped the primary keeps writing and keeps its WAL; the backlog drains when it is back", async function () {
    const workspace = await archiveCluster();
    const primary = `${workspace.cluster}-primary`;
    const agent = `${workspace.cluster}-agent`;
    const engine = await docker();
    await engine.stopContainer(agent);
    const closed: string[] = [];
    for (let index = 0; index < 3; index++) closed.push(await switchWal(primary));
    // The server says it failed, keeps the files, and still takes writes.
    await eventually(60_000, async () => assert.ok(Number(await psql(primary, "SELECT failed_count FROM pg_stat_archiver")) > 0));
    assert.ok((await readyCount(primary)) >= 2, "the WAL waits in pg_wal");
    assert.ok((await writes(primary)) > 3, "the primary takes writes");
    const logs = await engine.logTail(primary, 200_000);
    assert.match(logs, /the agent is not running/, "the server's log says why");
    // status says so too, with the backlog.
    assert.match((await workspace.ok("status")).stdout, /WAL archive: FAILING since .* [2-9] WAL file\(s\) waiting/);
    await engine.startContainer(agent);
    await eventually(180_000, async () => {
      const names = await archivedNames(workspace);
      for (const segment of closed) assert.ok(names.some((name) => name.startsWith(`${segment}.`)), `${segment} stored`);
      assert.equal(await readyCount(primary), 0);
    });
    assert.match((await workspace.ok("status")).stdout, /WAL archive: last stored [0-9A-F]{24} at .*; 0 WAL file\(s\) waiting/);
  });

  it("past wal.maxPending the primary gives WAL up as a recorded gap, stays up, alerts, and /healthz and backup list say so", async function () {
    const workspace = await archiveCluster("wal: { maxPending: 64m }\n");
    const primary = `${workspace.cluster}-primary`;
    const agent = `${workspace.cluster}-agent`;
    const engine = await docker();
    // A webhook on the host, reached by the agent through its network's gateway.
    const hooks: Array<Record<string, unknown>> = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        hooks.push(JSON.parse(body) as Record<string, unknown>);
        response.end("OK");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "0.0.0.0", resolve));
    try {
      const gateway = await engine.networkGateway(`${workspace.cluster}-net`);
      await workspace.writeConfig(`${await workspace.read("pgfort.yaml")}notify: { webhook: "http://${gateway}:${(receiver.address() as AddressInfo).port}/hook" }\n`);
      await workspace.ok("up");
      await workspace.ok("backup", "run", "--kind", "physical");
      await runBound(workspace, primary, agent, hooks);
    } finally {
      receiver.close();
    }
  });
});

/** With the agent stopped, WAL past the bound; then the agent back: the gap recorded, alerted, shown. */
async function runBound(workspace: Workspace, primary: string, agent: string, hooks: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  const engine = await docker();
  await engine.stopContainer(agent);
  for (let index = 0; index < 8; index++) await switchWal(primary);
  // The bound: 64 MiB is 4 segments; the archiver gives the oldest up once more wait.
  await eventually(120_000, async () => assert.ok((await readyCount(primary)) <= 5));
  assert.ok((await writes(primary)) > 8, "the primary stays up");
  assert.match(await engine.logTail(primary, 200_000), /over wal.maxPending \(67108864\).* leaves pg_wal unarchived/);
  await engine.startContainer(agent);
  const gaps = await eventually(120_000, async () => {
    const entries = await readdir(workspace.path("backups", workspace.cluster, "wal", "gaps"));
    assert.ok(entries.length > 0);
    return entries;
  });
  assert.ok(gaps.every((name) => name.endsWith(`.${primary}.json`)), gaps.join(", "));
  const port = workspace.agentPort;
  const health = await eventually(30_000, async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
    const body = await response.text();
    assert.equal(response.status, 503, body);
    return body;
  });
  assert.match(health, /given up unarchived/);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /pgfort_wal_archive_gaps_total [1-9]/);
  // The alert, and the window with its gap.
  await eventually(30_000, async () => assert.ok(hooks.some((hook) => hook["job"] === "wal-archive" && hook["event"] === "failure" && /gave [0-9A-F]{24} up unarchived/.test(String(hook["error"]))), JSON.stringify(hooks)));
  // Once WAL after the gap is stored, the window shows the gap.
  await eventually(60_000, async () => {
    const [listed] = JSON.parse((await workspace.ok("backup", "list", "--json")).stdout) as Array<{ window: { gaps: Array<{ from: string; to: string }> } }>;
    assert.ok((listed?.window.gaps.length ?? 0) > 0, JSON.stringify(listed?.window));
  });
}
