// Ctrl-C (SIGINT) 2 s into a backup, a verify and a restore: the CLI cleans up and exits 130
// within 10 s, leaving no job container, volume, network or partial file, and no complete backup.
// A CLI killed outright (SIGKILL) leaves leftovers: status shows them, the next backup removes them.
// Everything is checked with the engine (dockerode) and the file system, not with pgfort's code.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";
import { runCli, type CliResult } from "./cli";
import { clustersInThisTest, uniqueClusterName } from "./clusters";
import { removeLabelled } from "./hooks";
import { IMAGE, psql } from "./postgres";
import { freePort } from "./workspace";
import { startS3 } from "./s3";

const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "index.js");
const engine = new Dockerode();

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** From the signal to the process's exit. */
  exitMs: number;
}

describe("interrupting jobs", function () {
  let directory: string;
  let cluster: string;
  let networksBefore: string[];
  let writeConfig: (backups?: string) => Promise<void>;

  const pgfort = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: directory });
  const ok = async (...args: string[]): Promise<CliResult> => {
    const result = await pgfort(...args);
    assert.equal(result.code, 0, `pgfort ${args.join(" ")}:\n${result.stderr}\n${result.stdout}`);
    return result;
  };

  /**
   * Starts the CLI, sends `signal` 2 s after its first job object appears (node's start-up alone
   * takes seconds on a busy host: 2 s after the spawn may be before any job), and waits for it to
   * exit (at most 60 s).
   */
  async function interrupt(args: string[], signal: NodeJS.Signals, env: NodeJS.ProcessEnv = {}, afterMs = 2000): Promise<Interrupted> {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: directory, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdout.resume();
    let ended = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, received) => {
        ended = true;
        resolve({ code, signal: received });
      }),
    );
    // The job runs in a job container of its own, or (the agent up) by docker exec in the agent.
    const started = async () => /^running in the agent /m.test(stderr) || (await jobObjects()).length > 0;
    for (let attempt = 0; attempt < 600 && !ended && !(await started()); attempt += 1) await sleep(100);
    const early = await Promise.race([exited, sleep(afterMs).then(() => undefined)]);
    assert.equal(early, undefined, `pgfort ${args.join(" ")} ended before the signal:\n${stderr}`);
    const sent = Date.now();
    child.kill(signal);
    const timeout = sleep(60_000).then(() => "timeout" as const);
    const outcome = await Promise.race([exited, timeout]);
    if (outcome === "timeout") {
      child.kill("SIGKILL");
      assert.fail(`pgfort ${args.join(" ")} did not exit within 60 s of ${signal}:\n${stderr}`);
    }
    return { ...outcome, stderr, exitMs: Date.now() - sent };
  }

  /** Job objects of this cluster as the engine lists them. */
  async function jobObjects(): Promise<string[]> {
    const found: string[] = [];
    for (const role of ["backup", "restore", "verify"]) {
      const filters = { label: [`pgfort.cluster=${cluster}`, `pgfort.role=${role}`] };
      const [containers, volumes] = await Promise.all([engine.listContainers({ all: true, filters }), engine.listVolumes({ filters })]);
      found.push(...containers.map((container) => `container ${container.Names[0] ?? container.Id} (${role})`));
      found.push(...(volumes.Volumes ?? []).map((volume) => `volume ${volume.Name} (${role})`));
    }
    return found;
  }

  async function networks(): Promise<string[]> {
    return (await engine.listNetworks({ filters: { label: [`pgfort.cluster=${cluster}`] } })).map((network) => network.Name).sort();
  }

  /**
   * Partial files of the interrupted job. The WAL archive is left out: the agent's archiver keeps
   * storing WAL beside any job (the 1 GB table makes plenty), and its file in flight is not the job's.
   */
  async function partialFiles(): Promise<string[]> {
    const entries = await readdir(path.join(directory, "backups"), { withFileTypes: true, recursive: true }).catch(() => []);
    return entries
      .filter((entry) => entry.isFile() && entry.name.includes(".partial-") && path.basename(entry.parentPath) !== "wal")
      .map((entry) => path.join(entry.parentPath, entry.name));
  }

  async function completeBackups(): Promise<string[]> {
    const listed = JSON.parse((await ok("--json", "backup", "list")).stdout) as Array<{ id: string; status: string }>;
    return listed.filter((backup) => backup.status === "complete").map((backup) => backup.id).sort();
  }

  /** What every interrupted run must leave: nothing but what was there before. */
  async function assertCleanAfter(run: Interrupted, completeBefore: string[]): Promise<void> {
    assert.equal(run.code, 130, `exit code 130 after SIGINT, got ${run.code} (${run.signal}):\n${run.stderr}`);
    assert.ok(run.exitMs < 10_000, `exited ${run.exitMs} ms after the signal`);
    assert.match(run.stderr, /^interrupted: cleaning up$/m);
    assert.match(run.stderr, /^error: interrupted by SIGINT$/m);
    assert.deepEqual(await jobObjects(), [], `no job container or volume is left; stderr:\n${run.stderr}`);
    assert.deepEqual(await networks(), networksBefore, "no network is left or taken away");
    assert.deepEqual(await partialFiles(), [], "no partial file is left");
    assert.deepEqual(await completeBackups(), completeBefore, "no new complete backup");
  }

  before(async function () {
    this.timeout(20 * 60_000);
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-interrupt-"));
    // One cluster for the whole file (1 GB of data takes a while to make): kept out of the per-test
    // cleanup, removed in after(); the run's leak check still covers it.
    cluster = uniqueClusterName();
    clustersInThisTest.delete(cluster);
    const port = await freePort();
    const agentPort = await freePort();
    writeConfig = (backups = "") =>
      writeFile(
        path.join(directory, "pgfort.yaml"),
        `cluster: ${cluster}\nimage: { tag: "${IMAGE}" }\nagent: { port: ${agentPort} }\nprimary:\n  port: ${port}\n  resources: { memory: 1g, cpus: 1 }\n  settings: { max_wal_size: 2GB }\n${backups}`,
      );
    await writeConfig();
    await ok("up");
    const primary = `${cluster}-primary`;
    await psql(primary, "CREATE DATABASE app");
    // ~1 GB: a million rows of 1 KiB (under the TOAST threshold, so stored as is).
    await psql(primary, "CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), 32) AS payload FROM generate_series(1, 1000000) g", { db: "app" });
    const size = Number(await psql(primary, "SELECT pg_database_size('app')"));
    assert.ok(size > 1_000_000_000, `app holds ${size} bytes`);
    networksBefore = await networks();
  });

  after(async function () {
    this.timeout(120_000);
    if (cluster) await removeLabelled({ label: [`pgfort.cluster=${cluster}`] });
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it("SIGINT 2 s into a 1 GB logical backup: exit 130 within 10 s, nothing left", async function () {
    const before = await completeBackups();
    const run = await interrupt(["backup", "run", "--kind", "logical", "--database", "app"], "SIGINT");
    await assertCleanAfter(run, before);
  });

  it("SIGINT 2 s into a physical backup: exit 130 within 10 s, nothing left", async function () {
    const before = await completeBackups();
    // zstd -19: a base backup of 1 GB then takes minutes, so only a working abort ends it in 10 s
    // (at the default level it could simply finish in that time).
    await writeConfig("backups: { compressionLevel: 19 }\n");
    try {
      const run = await interrupt(["backup", "run", "--kind", "physical"], "SIGINT");
      await assertCleanAfter(run, before);
    } finally {
      await writeConfig();
    }
  });

  it("SIGINT 2 s into a logical backup to S3: exit 130, the multipart upload aborted, no object", async function () {
    // moto: it lists multipart uploads, so an upload left open would show.
    const s3 = await startS3("moto");
    const run = await interrupt(["backup", "run", "--kind", "logical", "--database", "app", "--target", `s3://${s3.bucket}/x`], "SIGINT", s3.env);
    assert.equal(run.code, 130, run.stderr);
    assert.ok(run.exitMs < 10_000, `exited ${run.exitMs} ms after the signal`);
    assert.deepEqual(await jobObjects(), []);
    assert.deepEqual(await s3.openUploads(), [], "no open multipart upload");
    assert.deepEqual(await s3.keys("x/"), [], "no object of the interrupted backup");
  });

  it("SIGINT 2 s into a verify and into a restore --as: exit 130 within 10 s, nothing left, no verdict", async function () {
    await ok("backup", "run", "--kind", "physical");
    await ok("backup", "run", "--kind", "logical", "--database", "app");
    const before = await completeBackups();
    assert.equal(before.length, 2);
    const verdicts = async () =>
      (await readdir(path.join(directory, "backups"), { recursive: true })).filter((name) => String(name).includes("verify")).sort();
    const verdictsBefore = await verdicts();
    const physical = (JSON.parse((await ok("--json", "backup", "list")).stdout) as Array<{ id: string; kind: string }>).find((backup) => backup.kind === "physical");
    assert.ok(physical);
    const verify = await interrupt(["backup", "verify", physical.id], "SIGINT");
    await assertCleanAfter(verify, before);
    assert.deepEqual(await verdicts(), verdictsBefore, "an interrupted drill writes no verdict");

    const logical = (JSON.parse((await ok("--json", "backup", "list")).stdout) as Array<{ id: string; kind: string }>).find((backup) => backup.kind === "logical");
    assert.ok(logical);
    const restore = await interrupt(["restore", logical.id, "--as", "copy"], "SIGINT");
    await assertCleanAfter(restore, before);
    const restored = await engine.listContainers({ all: true, filters: { name: [`${cluster}-copy`] } });
    assert.deepEqual(restored, [], "no restored server is left");
  });

  it("a CLI killed mid-backup: its job stops and removes its partial file; the container left is shown by status and removed by the next backup", async function () {
    // Without the agent: a one-off job container, which outlives its killed CLI.
    await engine.getContainer(`${cluster}-agent`).stop();
    const before = await completeBackups();
    const killed = await interrupt(["backup", "run", "--kind", "logical", "--database", "app"], "SIGKILL");
    assert.equal(killed.signal, "SIGKILL");
    const left = await jobObjects();
    assert.ok(left.length > 0, "the killed run left its job container");
    // The job runs in its container, not in the killed process: its stdin closed with the CLI's
    // connection, so it aborts by itself, removes what it wrote and exits.
    const filters = { label: [`pgfort.cluster=${cluster}`, "pgfort.role=backup"] };
    for (let attempt = 0; attempt < 300 && (await engine.listContainers({ filters })).length > 0; attempt += 1) await sleep(100);
    assert.deepEqual((await engine.listContainers({ filters })).map((container) => container.Names[0]), [], "the job stopped within 30 s of its CLI");
    assert.deepEqual(await partialFiles(), [], "the job removed its partial file");
    assert.deepEqual(await completeBackups(), before, "and wrote no manifest");

    const status = JSON.parse((await ok("--json", "status")).stdout) as { leftovers: Array<{ kind: string; name: string; removable: boolean; reason: string }> };
    const shown = status.leftovers.filter((leftover) => leftover.removable);
    assert.ok(shown.some((leftover) => leftover.kind === "container"), JSON.stringify(status.leftovers));
    assert.ok(shown.every((leftover) => /is gone/.test(leftover.reason)));
    const human = (await ok("status")).stdout;
    assert.match(human, /^leftovers of interrupted runs \(\d+\):$/m);

    const next = await ok("backup", "run", "--kind", "logical", "--database", "postgres");
    assert.match(next.stderr, /removed leftover container/);
    assert.deepEqual(await jobObjects(), [], "the killed run's container is gone");
    assert.deepEqual(await partialFiles(), [], "and its partial file");
    assert.equal((await completeBackups()).length, before.length + 1, "the new backup is complete");
    const after = JSON.parse((await ok("--json", "status")).stdout) as { leftovers: unknown[] };
    assert.deepEqual(after.leftovers, []);
  });
});
