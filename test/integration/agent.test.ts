// The <cluster>-agent container (issue 10): created by `pgfort up`, hardened, with no Docker socket
// and no secret in its environment, arguments or log; restarted by Docker; removed by `down`. And
// the acceptance run: scheduled backups with no pgfort process left on the host.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { connectTcp, docker, engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";
import { eventually } from "./waiting";

const run = promisify(execFile);
const REPOSITORY = path.resolve(__dirname, "..", "..", "..");
const EVERY_MINUTE = `backups:\n  jobs:\n    - { name: minutely, kind: logical, schedule: "* * * * *", databases: [app] }\n`;
// Not due during the test: /healthz stays 200 whatever a run would do.
const NIGHTLY = `backups:\n  jobs:\n    - { name: nightly, kind: logical, schedule: "0 3 * * *", databases: [app] }\n`;

async function agentCluster(extraYaml = EVERY_MINUTE): Promise<Workspace> {
  const port = await freePort();
  const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\n${extraYaml}`);
  await workspace.ok("up");
  await psql(`${workspace.cluster}-primary`, "CREATE DATABASE app");
  return workspace;
}

async function healthz(port: number): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}


async function secretsOf(workspace: Workspace): Promise<string[]> {
  const directory = workspace.path(".pgfort", workspace.cluster, "secrets");
  return Promise.all(["postgres-password", "replication-password"].map((name) => readFile(path.join(directory, name), "utf8")));
}

async function logsOf(container: string): Promise<string> {
  const { stdout, stderr } = await run("docker", ["logs", container], { maxBuffer: 64 * 1024 * 1024 });
  return stdout + stderr;
}

/** Complete backups (manifest.json written last) of the cluster in the file:// target, read from the disk. */
async function completeBackups(workspace: Workspace): Promise<string[]> {
  const kindDirectory = workspace.path("backups", workspace.cluster, "logical");
  const entries = await readdir(kindDirectory).catch((): string[] => []);
  const complete: string[] = [];
  for (const entry of entries) {
    if ((await readdir(path.join(kindDirectory, entry)).catch((): string[] => [])).includes("manifest.json")) complete.push(entry);
  }
  return complete.sort();
}

/** Host processes running pgfort's CLI from this workspace (`ps`; the agent's own process runs in its container). */
async function pgfortProcessesOf(workspace: Workspace): Promise<string[]> {
  const { stdout } = await run("ps", ["-eo", "pid=,args="]);
  const found: string[] = [];
  for (const line of stdout.split("\n")) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!match?.[2] || !/pgfort|cli\/index\.js/.test(match[2])) continue;
    const cwd = await readlink(`/proc/${match[1]}/cwd`).catch(() => "");
    if (cwd.startsWith(workspace.directory)) found.push(line.trim());
  }
  return found;
}

describe("the agent container", function () {
  it("is hardened, has no socket and no secret, answers /healthz, comes back after a crash, and goes with down", async function () {
    const workspace = await agentCluster(NIGHTLY);
    const name = `${workspace.cluster}-agent`;
    const info = await engineApi.getContainer(name).inspect();
    assert.equal(info.Config.Labels["pgfort.role"], "agent");
    assert.equal(info.HostConfig.RestartPolicy?.Name, "always");
    assert.equal(info.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
    assert.deepEqual(info.HostConfig.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(info.Config.User, "999:999");
    const mounts = info.Mounts.map((mount) => `${mount.Source ?? ""} -> ${mount.Destination}`);
    assert.ok(!mounts.some((mount) => mount.includes("docker.sock")), mounts.join("\n"));
    assert.ok(info.Mounts.some((mount) => mount.Destination === "/run/secrets" && !mount.RW), mounts.join("\n"));
    assert.ok(info.Mounts.some((mount) => mount.Destination === "/var/lib/pgfort/target" && mount.RW && mount.Source === workspace.path("backups")), mounts.join("\n"));
    const uid = await (await docker()).exec(name, ["id", "-u"]);
    assert.equal(uid.stdout.trim(), "999");

    const port = workspace.agentPort ?? assert.fail("the workspace chose no agent port");
    const first = await eventually(30_000, () => healthz(port));
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(JSON.parse(first.body).jobs.map((job: { name: string }) => job.name), ["nightly", "wal-archive"]);

    // The database metrics, read by the agent over the cluster network with the password file of its secrets.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^pg_up\{node="primary"\} 1$/m, metrics);
    assert.match(metrics, /^pgfort_backup_runs_total\{backup_job="nightly",outcome="success"\} 0$/m);

    const secrets = await secretsOf(workspace);
    const exposed = JSON.stringify([info.Config.Env, info.Config.Cmd, info.Config.Entrypoint, info.Args, info.Path]);
    const log = await logsOf(name);
    for (const secret of secrets) {
      assert.ok(secret.length >= 16);
      assert.ok(!exposed.includes(secret), "a generated password is in the agent's Env, Cmd or Args");
      assert.ok(!log.includes(secret), "a generated password is in the agent's log");
    }

    // A second up leaves it alone.
    const again = JSON.parse((await workspace.ok("--json", "up")).stdout) as { agent: { outcome: string } };
    assert.equal(again.agent.outcome, "unchanged");
    assert.equal((await engineApi.getContainer(name).inspect()).Id, info.Id);

    // A crash: the agent's process dies without Docker being asked (as under the OOM killer).
    await run("kill", ["-KILL", String(info.State.Pid)]);
    const back = await eventually(60_000, async () => {
      const now = await engineApi.getContainer(name).inspect();
      assert.ok(now.State.Running && now.RestartCount >= 1 && now.State.Pid !== info.State.Pid, `state ${now.State.Status}, restarts ${now.RestartCount}`);
      return now;
    });
    assert.equal(back.Id, info.Id);
    assert.equal((await eventually(30_000, () => healthz(port))).status, 200);
    const status = JSON.parse((await workspace.ok("--json", "status")).stdout) as { agent: { container: string; state: string; restarts: number } };
    assert.equal(status.agent.container, name);
    assert.equal(status.agent.state, "running");
    assert.ok(status.agent.restarts >= 1);

    // `docker kill` is a manual stop to Docker: no policy restarts it at once (the engine-restart
    // test below shows `always` bringing it back); the next `up` starts it.
    await engineApi.getContainer(name).kill();
    await eventually(30_000, async () => assert.equal((await engineApi.getContainer(name).inspect()).State.Running, false));
    const started = JSON.parse((await workspace.ok("--json", "up")).stdout) as { agent: { outcome: string } };
    assert.equal(started.agent.outcome, "started");
    assert.equal((await eventually(30_000, () => healthz(port))).status, 200);
    await workspace.ok("down");
    assert.equal((await engineApi.listContainers({ all: true, filters: { name: [`^/${name}$`] } })).length, 0);
    const scratch = `${workspace.cluster}-agent-scratch`;
    assert.ok((await engineApi.listVolumes({ filters: { name: [scratch] } })).Volumes.some((volume) => volume.Name === scratch), "down without --volumes keeps the scratch volume");
    await workspace.ok("down", "--volumes", "--yes");
    assert.ok(!(await engineApi.listVolumes({ filters: { name: [scratch] } })).Volumes.some((volume) => volume.Name === scratch));
  });

  it("is re-created when its config changes, and follows a replica added later through its config file", async function () {
    const workspace = await agentCluster("");
    const name = `${workspace.cluster}-agent`;
    const before = await engineApi.getContainer(name).inspect();
    const text = await workspace.read("pgfort.yaml");
    await workspace.writeConfig(`${text}${NIGHTLY}`);
    const changed = JSON.parse((await workspace.ok("--json", "up")).stdout) as { agent: { outcome: string } };
    assert.equal(changed.agent.outcome, "recreated");
    const after = await engineApi.getContainer(name).inspect();
    assert.notEqual(after.Id, before.Id);
    const port = workspace.agentPort ?? assert.fail("no agent port");
    const health = await eventually(30_000, () => healthz(port));
    assert.deepEqual(JSON.parse(health.body).jobs.map((job: { name: string }) => job.name), ["nightly", "wal-archive"]);

    await workspace.ok("replica", "add", "r1");
    const config = await (await docker()).exec(name, ["cat", "/run/secrets/agent.json"]);
    assert.equal(config.exitCode, 0, config.stderr);
    assert.deepEqual(JSON.parse(config.stdout).servers, [`${workspace.cluster}-primary`, `${workspace.cluster}-r1`]);
    // Jobs read the servers per run: no restart for a replica; the next up re-creates the agent for its metrics.
    assert.equal((await engineApi.getContainer(name).inspect()).Id, after.Id);
    const followed = JSON.parse((await workspace.ok("--json", "up")).stdout) as { agent: { outcome: string } };
    assert.equal(followed.agent.outcome, "recreated");
  });

  // Needs the job engine in the agent image (src/jobs/in-agent.ts): fails until it is merged.
  it("takes a scheduled backup within 150 s with no pgfort process on the host", async function () {
    this.timeout(10 * 60_000);
    const workspace = await agentCluster();
    assert.deepEqual(await pgfortProcessesOf(workspace), []);
    const backups = await eventually(150_000, async () => {
      const found = await completeBackups(workspace);
      assert.ok(found.length >= 1, `no complete backup in ${workspace.path("backups")} yet; agent log:\n${(await logsOf(`${workspace.cluster}-agent`)).slice(-2000)}`);
      return found;
    });
    assert.deepEqual(await pgfortProcessesOf(workspace), [], "the backup must come from the agent, not from a pgfort process on the host");
    const listed = JSON.parse((await workspace.ok("--json", "backup", "list")).stdout) as Array<{ id: string; status: string; kind: string }>;
    assert.ok(listed.some((backup) => backup.status === "complete" && backup.kind === "logical"), JSON.stringify(listed));
    assert.ok(backups.length >= 1);
  });

  it("serves database metrics that follow the server, says 503 on /healthz within two periods of an unwritable target and 200 once fixed; CLI and scheduled backups have the same manifest fields", async function () {
    this.timeout(10 * 60_000);
    const workspace = await agentCluster(`backups:\n  jobs:\n    - { name: tick, kind: logical, schedule: "*/10 * * * * *", databases: [app] }\n`);
    const agentPort = workspace.agentPort ?? 0;
    const metrics = async () => (await fetch(`http://127.0.0.1:${agentPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const sample = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    await eventually(60_000, async () => assert.equal((await healthz(agentPort)).status, 200));
    await eventually(60_000, async () => assert.ok((await completeBackups(workspace)).length >= 1, "no scheduled backup yet"));

    // Database metrics, checked against the server: pg_up, and idle connections to app that rise by the test's own.
    const password = (await secretsOf(workspace))[0] ?? "";
    const primaryPort = Number(/port: (\d+)/.exec(await readFile(workspace.path("pgfort.yaml"), "utf8"))?.[1]);
    const idle = 'pg_stat_activity_count{node="primary",datname="app",state="idle"}';
    const before = await metrics();
    assert.equal(sample(before, 'pg_up{node="primary"}'), 1, before);
    const clients = await Promise.all([1, 2, 3].map(() => connectTcp(primaryPort, "postgres", password, "app", workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt"))));
    try {
      const during = await metrics();
      const expected = Number(await psql(`${workspace.cluster}-primary`, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND state = 'idle' AND application_name <> 'pgfort-metrics'"));
      assert.ok(sample(during, idle) >= 3, during);
      assert.ok(Math.abs(sample(during, idle) - expected) <= 1, `agent says ${sample(during, idle)}, psql ${expected}`);
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }

    // The same manifest fields from `backup run` on the host (handed to the agent) as from the schedule.
    const scheduled = JSON.parse(await readFile(workspace.path("backups", workspace.cluster, "logical", (await completeBackups(workspace))[0] ?? "", "manifest.json"), "utf8")) as Record<string, unknown>;
    const cli = JSON.parse((await workspace.ok("--json", "backup", "run", "--job", "tick")).stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(cli).sort(), Object.keys(scheduled).sort());
    const names = (manifest: Record<string, unknown>) => (manifest["files"] as Array<{ name: string }>).map((file) => file.name).sort();
    assert.deepEqual(names(cli), names(scheduled));
    assert.deepEqual(cli["compression"], scheduled["compression"]);
    assert.equal(cli["job"], "tick");
    assert.equal(scheduled["job"], "tick");

    // The target made unwritable for the agent (uid 999): the next runs fail, /healthz says so within two periods.
    const clusterDirectory = workspace.path("backups", workspace.cluster);
    await run("chmod", ["-R", "a-w", clusterDirectory]);
    const brokenAt = Date.now();
    const broken = await eventually(2 * 10_000 + 15_000, async () => {
      const answer = await healthz(agentPort);
      assert.equal(answer.status, 503, answer.body);
      return answer;
    });
    assert.ok(Date.now() - brokenAt <= 2 * 10_000 + 15_000);
    assert.match(broken.body, /tick/);
    await run("chmod", ["-R", "u+w", clusterDirectory]);
    const fixed = await eventually(2 * 10_000 + 15_000, async () => {
      const answer = await healthz(agentPort);
      assert.equal(answer.status, 200, answer.body);
      return answer;
    });
    assert.match(fixed.body, /last success/);
  });

  // Restarts the Docker engine (dockerd, started by scripts/setup-docker.sh): it stops every test
  // running beside it, so it runs alone. Needs the job engine too.
  it("comes back after a restart of the Docker engine, and the next scheduled run happens", async function () {
    this.timeout(15 * 60_000);
    const workspace = await agentCluster();
    const name = `${workspace.cluster}-agent`;
    await eventually(150_000, async () => assert.ok((await completeBackups(workspace)).length >= 1, "no first scheduled backup"));
    // docker kill first: Docker's manual stop, which only `always` undoes, at the engine's next start.
    await engineApi.getContainer(name).kill();
    const { stdout: pid } = await run("sh", ["-c", "cat /var/run/docker.pid 2>/dev/null || pidof dockerd"]);
    await run("kill", ["-TERM", pid.trim()]);
    await eventually(120_000, async () => {
      const alive = await run("kill", ["-0", pid.trim()]).then(() => true, () => false);
      assert.ok(!alive, "dockerd is still stopping");
    });
    await run("bash", [path.join(REPOSITORY, "scripts", "setup-docker.sh")]);
    const restartedAt = Date.now();
    const agent = await eventually(120_000, async () => {
      const info = await engineApi.getContainer(name).inspect();
      assert.ok(info.State.Running, `the agent is ${info.State.Status} after the engine restart`);
      return info;
    });
    assert.equal(agent.HostConfig.RestartPolicy?.Name, "always");
    assert.equal((await eventually(60_000, () => healthz(workspace.agentPort ?? 0))).status, 200);
    const before = (await completeBackups(workspace)).length;
    await eventually(150_000, async () => {
      const now = (await completeBackups(workspace)).length;
      assert.ok(now > before, `no scheduled backup since the engine restarted ${Math.round((Date.now() - restartedAt) / 1000)} s ago`);
    });
    assert.deepEqual(await pgfortProcessesOf(workspace), []);
  });
});
