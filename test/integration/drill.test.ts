// Issue 10, "one job engine": the restore drill runs inside ONE one-off container of the agent
// image, with no Docker: its scratch server is a child process in a scratch volume. The container
// is hardened like the agent (uid 999, read-only root, caps dropped) and has no network at all.
// Asserts on the verdict files, the scratch volume's content and the engine's lists of containers
// and volumes.
import assert from "node:assert/strict";
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, backupRun, readVerdicts, type Manifest, type StoredVerdict } from "./backup-helpers";
import { createVictim, flipBlock, stopAndCorrupt } from "./corrupt-data";
import { agentImageTag } from "../../src/agent/contract";
import { docker, engineApi, IMAGE, psql } from "./postgres";
import type { Workspace } from "./workspace";

const AGENT_IMAGE = agentImageTag(IMAGE);
const AGENT_CONFIG_DIR = "/run/pgfort-test-agent";

interface JobSetup {
  workspace: Workspace;
  backups: string;
  agentDir: string;
  scratchVolume: string;
}

interface JobRun {
  exitCode: number;
  events: Array<Record<string, unknown>>;
  log: string;
  /** Names of the cluster's containers and volumes seen while the job ran. */
  seenContainers: Set<string>;
  seenVolumes: Set<string>;
}

/** What the agent would have: the target owned by uid 999, its config file, a scratch volume. */
async function setUpJob(workspace: Workspace): Promise<JobSetup> {
  const backups = workspace.path("backups");
  await chownTree(backups, 999, 999);
  const agentDir = await mkdtemp(path.join(os.tmpdir(), "pgfort-agent-"));
  await chmod(agentDir, 0o755);
  const agentConfig = {
    formatVersion: 1,
    configText: await workspace.read("pgfort.yaml"),
    target: "file:///var/lib/pgfort/target",
    servers: [`${workspace.cluster}-primary`],
    primaryNode: "primary",
  };
  await writeFile(path.join(agentDir, "agent.json"), JSON.stringify(agentConfig), { mode: 0o644 });
  const scratchVolume = `${workspace.cluster}-drill-scratch`;
  // A new volume: the agent image's mount point makes it uid 999's.
  await engineApi.createVolume({ Name: scratchVolume, Labels: { "pgfort.cluster": workspace.cluster } });
  return { workspace, backups, agentDir, scratchVolume };
}

async function chownTree(directory: string, uid: number, gid: number): Promise<void> {
  await chown(directory, uid, gid);
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await chown(full, uid, gid);
  }
}

async function runTool(cluster: string, script: string, binds: string[]): Promise<string> {
  const engine = await docker();
  const name = `${cluster}-tool-${Math.random().toString(16).slice(2, 8)}`;
  await engine.createAndStart({ name, Image: IMAGE, User: "0:0", Entrypoint: ["bash", "-c"], Cmd: [script], Labels: { "pgfort.cluster": cluster }, HostConfig: { Binds: binds } });
  const exitCode = await engine.waitContainer(name);
  const output = await engine.logTail(name, 10_000);
  await engine.removeContainer(name);
  assert.equal(exitCode, 0, output);
  return output;
}

/** The files left in the scratch volume, read in a tool container. */
async function scratchContent(setup: JobSetup): Promise<string[]> {
  const listing = await runTool(setup.workspace.cluster, "cd /scratch && find . -mindepth 1 -maxdepth 2 | sort", [`${setup.scratchVolume}:/scratch:ro`]);
  // ./state is the jobs' own state directory (the S3 orphan journal, src/jobs/state-dir.ts), not a drill's leftover.
  return listing.split("\n").filter((line) => line.trim() !== "" && line !== "./state" && !line.startsWith("./state/"));
}

/** `pgfort --json job verify [ID]` in a one-off hardened container; `whileRunning` gets its name. */
async function runDrillJob(setup: JobSetup, id: string | undefined, whileRunning?: (name: string) => Promise<void>): Promise<JobRun> {
  const engine = await docker();
  const { cluster } = setup.workspace;
  const name = `${cluster}-job-${Math.random().toString(16).slice(2, 8)}`;
  await engine.createAndStart({
    name,
    Image: AGENT_IMAGE,
    Cmd: ["--json", "job", "verify", ...(id ? [id] : []), "--agent-config", `${AGENT_CONFIG_DIR}/agent.json`],
    Labels: { "pgfort.cluster": cluster, "pgfort.role": "job" },
    HostConfig: {
      ReadonlyRootfs: true,
      Tmpfs: { "/tmp": "rw,nosuid,nodev,size=64m" },
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Memory: 512 * 1024 * 1024,
      NanoCpus: 1_000_000_000,
      NetworkMode: "none",
      Binds: [
        `${setup.backups}:/var/lib/pgfort/target`,
        `${setup.agentDir}:${AGENT_CONFIG_DIR}:ro`,
        `${cluster}-secrets:/run/secrets:ro`,
      ],
      Mounts: [{ Type: "volume", Source: setup.scratchVolume, Target: "/var/lib/pgfort/scratch" }],
    },
  });
  const seenContainers = new Set<string>();
  const seenVolumes = new Set<string>();
  let done = false;
  const watch = (async () => {
    while (!done) {
      const filters = { label: [`pgfort.cluster=${cluster}`] };
      for (const container of await engineApi.listContainers({ all: true, filters })) seenContainers.add((container.Names[0] ?? "").replace(/^\//, ""));
      for (const volume of (await engineApi.listVolumes({ filters })).Volumes ?? []) seenVolumes.add(volume.Name);
      await sleep(200);
    }
  })();
  try {
    if (whileRunning) await whileRunning(name);
    const exitCode = await engine.waitContainer(name);
    const log = await engine.logTail(name, 100_000);
    const events = log
      .split("\n")
      .filter((line) => line.startsWith('{"event"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { exitCode, events, log, seenContainers, seenVolumes };
  } finally {
    done = true;
    await watch;
    await engine.removeContainer(name);
  }
}

function verdictOf(run: JobRun): StoredVerdict & { location: string } {
  const event = run.events.find((candidate) => candidate["event"] === "result");
  assert.ok(event, `no result event (exit ${run.exitCode}):\n${run.log}`);
  const value = event["value"] as { verdict: StoredVerdict; location: string };
  return { ...value.verdict, location: String(value.location) };
}

function check(verdict: StoredVerdict, name: string): { name: string; ok: boolean; detail: string } {
  const found = verdict.checks.find((candidate) => candidate.name === name);
  assert.ok(found, `no check ${name} in ${JSON.stringify(verdict.checks)}`);
  return found;
}

function backupDir(setup: JobSetup, manifest: Manifest): string {
  return path.join(setup.backups, setup.workspace.cluster, manifest.kind, manifest.id);
}

/** Waits until the job has printed an info event matching `pattern`. */
async function untilLogged(name: string, pattern: RegExp): Promise<void> {
  const engine = await docker();
  for (let attempt = 0; attempt < 600; attempt += 1) {
    const log = await engine.logTail(name, 1000);
    if (pattern.test(log)) return;
    await sleep(100);
  }
  assert.fail(`the job never logged ${pattern}`);
}

describe("the restore drill inside a job container", function () {
  const setups: JobSetup[] = [];
  afterEach(async function () {
    for (const setup of setups.splice(0)) await rm(setup.agentDir, { recursive: true, force: true });
  });

  it("passes a logical and a physical backup with pg_amcheck and row counts, creating no server container or volume, and leaves the scratch volume empty", async function () {
    const workspace = await appCluster();
    const logical = await backupRun(workspace, "--kind", "logical", "--database", "app");
    const physical = await backupRun(workspace, "--kind", "physical");
    const setup = await setUpJob(workspace);
    setups.push(setup);
    const { cluster } = workspace;
    const filters = { label: [`pgfort.cluster=${cluster}`] };
    const volumesBefore = new Set(((await engineApi.listVolumes({ filters })).Volumes ?? []).map((volume) => volume.Name));
    const containersBefore = new Set((await engineApi.listContainers({ all: true, filters })).map((container) => (container.Names[0] ?? "").replace(/^\//, "")));
    assert.ok(containersBefore.has(`${cluster}-primary`));

    for (const manifest of [logical, physical]) {
      const run = await runDrillJob(setup, manifest.id);
      assert.equal(run.exitCode, 0, run.log);
      // Sized to the job container's own limit (512 MiB): shared_buffers 1/16 of it.
      assert.ok(run.events.some((event) => /shared_buffers 32MB, fsync off/.test(String(event["message"]))), run.log);
      const verdict = verdictOf(run);
      assert.equal(verdict.status, "passed", JSON.stringify(verdict.checks, null, 2));
      assert.equal(check(verdict, "pg_amcheck").ok, true);
      assert.equal(check(verdict, "server starts").ok, true);
      for (const file of (manifest as Manifest).files) assert.equal(check(verdict, `sha256 ${file.name}`).ok, true);
      if (manifest.kind === "logical") assert.match(check(verdict, "row counts app").detail, /^4 tables, \d+ rows match$/);
      else assert.equal(check(verdict, "pg_verifybackup").ok, true);
      // The verdict file is in the target, beside the backup, as the job reported it.
      const stored = await readVerdicts(backupDir(setup, manifest));
      assert.deepEqual(stored.map((entry) => entry.status), ["passed"]);
      assert.ok(verdict.location.endsWith(`/${cluster}/${manifest.kind}/${manifest.id}/${stored[0]?.file ?? "?"}`), verdict.location);
      // No server of its own: the only new container of the cluster was the job itself.
      const others = [...run.seenContainers].filter((name) => !containersBefore.has(name) && !name.startsWith(`${cluster}-job-`));
      assert.deepEqual(others, [], "the drill created containers");
      assert.deepEqual([...run.seenVolumes].filter((name) => !volumesBefore.has(name)), [], "the drill created volumes");
      assert.deepEqual(await scratchContent(setup), [], "the scratch volume is empty after the drill");
    }
    // The host CLI sees the job's verdicts.
    const listed = JSON.parse((await workspace.ok("--json", "backup", "list")).stdout) as Array<{ id: string; verified: string | null }>;
    assert.deepEqual(
      listed.filter((entry) => entry.id === logical.id || entry.id === physical.id).map((entry) => entry.verified),
      ["passed", "passed"],
    );
  });

  it("fails the verdict naming the sha256 check when a byte of a backup file is flipped", async function () {
    const workspace = await appCluster();
    const logical = await backupRun(workspace, "--kind", "logical", "--database", "app");
    const file = path.join(workspace.path("backups", workspace.cluster, "logical", logical.id), "app.pgcustom.zst");
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const setup = await setUpJob(workspace);
    setups.push(setup);
    const run = await runDrillJob(setup, logical.id);
    assert.equal(run.exitCode, 0, run.log); // the job ran to a verdict; `backup verify` on the host exits 1 on a failed one
    const verdict = verdictOf(run);
    assert.equal(verdict.status, "failed");
    const sha = check(verdict, "sha256 app.pgcustom.zst");
    assert.equal(sha.ok, false);
    assert.match(sha.detail, /^expected \d+ bytes sha256 [0-9a-f]{64}, found \d+ bytes sha256 [0-9a-f]{64}$/);
    assert.equal(check(verdict, "sha256 globals.sql.zst").ok, true);
    assert.deepEqual((await readVerdicts(backupDir(setup, logical))).map((entry) => entry.status), ["failed"]);
    assert.deepEqual(await scratchContent(setup), []);
  });

  it("fails the verdict naming pg_amcheck for a backup of a corrupted heap page", async function () {
    const workspace = await appCluster();
    const { table } = await createVictim(workspace);
    // Nothing may rewrite the page before the backup reads it: autovacuum off, everything frozen already.
    await psql(`${workspace.cluster}-primary`, "ALTER TABLE victim SET (autovacuum_enabled = off)", { db: "app" });
    await psql(`${workspace.cluster}-primary`, "VACUUM (FREEZE) victim", { db: "app" });
    // Block 1's line pointers overwritten with 0x41414141 (a redirect to an offset beyond the page;
    // 0xa5 would make them LP_DEAD, which no check reads); without data checksums pg_basebackup
    // copies the page as it is.
    await stopAndCorrupt(workspace, [flipBlock(table, 24, "41")], { disableChecksums: true });
    // The source itself is corrupt as pg_amcheck sees it.
    const source = await (await docker()).exec(`${workspace.cluster}-primary`, ["pg_amcheck", "-U", "postgres", "--install-missing", "-d", "app"]);
    assert.equal(source.exitCode, 2, `${source.stdout}${source.stderr}`);
    const physical = await backupRun(workspace, "--kind", "physical");
    const setup = await setUpJob(workspace);
    setups.push(setup);
    const run = await runDrillJob(setup, physical.id);
    assert.equal(run.exitCode, 0, run.log); // a verdict, failed: the host exits 1
    const verdict = verdictOf(run);
    assert.equal(verdict.status, "failed");
    assert.equal(check(verdict, "pg_verifybackup").ok, true, "the files are the ones pg_basebackup read");
    const amcheck = check(verdict, "pg_amcheck");
    assert.equal(amcheck.ok, false);
    assert.match(amcheck.detail, /^corruption in heap table app\.public\.victim/);
    assert.deepEqual((await readVerdicts(backupDir(setup, physical))).map((entry) => entry.status), ["failed"]);
    assert.deepEqual(await scratchContent(setup), []);
  });

  it("writes no verdict when the job is stopped or killed mid-drill; a stop cleans up, the next drill sweeps what a kill left", async function () {
    const workspace = await appCluster();
    const physical = await backupRun(workspace, "--kind", "physical");
    const setup = await setUpJob(workspace);
    setups.push(setup);
    const engine = await docker();

    // docker stop: SIGTERM (the agent image's stop signal); the job kills its scratch server and removes its directory.
    const stopped = await runDrillJob(setup, physical.id, async (name) => {
      await untilLogged(name, /starting the scratch server/);
      await engine.stopContainer(name, 30);
    });
    assert.equal(stopped.exitCode, 143, stopped.log);
    assert.deepEqual(stopped.events.filter((event) => event["event"] === "result"), []);
    assert.equal(stopped.events.at(-1)?.["code"], "INTERRUPTED", stopped.log);
    assert.deepEqual(await readVerdicts(backupDir(setup, physical)), []);
    assert.deepEqual(await scratchContent(setup), [], "a stopped drill removes its scratch directory");

    // docker kill: SIGKILL, nothing can clean up; no verdict, and the scratch directory stays.
    const killed = await runDrillJob(setup, physical.id, async (name) => {
      await untilLogged(name, /starting the scratch server/);
      await engine.killContainer(name);
    });
    assert.equal(killed.exitCode, 137, killed.log);
    assert.deepEqual(await readVerdicts(backupDir(setup, physical)), []);
    const left = await scratchContent(setup);
    assert.ok(left.some((entry) => /^\.\/drill-[0-9a-f]+$/.test(entry)), `the killed drill's directory: ${left.join(", ")}`);

    // The next drill (of the newest complete backup: no id) removes it (its owner is dead), passes, and leaves the volume empty.
    const next = await runDrillJob(setup, undefined);
    assert.ok(next.events.some((event) => event["message"] === `verifying physical backup ${physical.id}`), next.log);
    assert.equal(next.exitCode, 0, next.log);
    assert.ok(next.events.some((event) => /^removed 1 scratch directory of drills that were killed/.test(String(event["message"]))), next.log);
    assert.equal(verdictOf(next).status, "passed");
    assert.deepEqual((await readVerdicts(backupDir(setup, physical))).map((entry) => entry.status), ["passed"]);
    assert.deepEqual(await scratchContent(setup), []);
  });
});
