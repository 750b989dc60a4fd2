// `pgfort status`: live usage from the engine and the cgroup, and the tuned settings in force with
// the file that set each. Checked against `docker inspect`, the container's cgroup and psql.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { docker, engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";

const MIB = 1024 ** 2;

interface StatusNode {
  node: string;
  container: string;
  usage: { memoryUsedBytes: number | null; memoryLimitBytes: number | null; cpuPercent: number | null; oomKills: number | null; lastExitOomKilled: boolean; restarts: number };
  settings: Array<{ name: string; value: string; file: string | null; origin: string; source: string }> | null;
}

async function untilAnswering(container: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // exec fails outright while the container is between exit and restart.
    const result = await (await docker()).exec(container, ["psql", "-X", "-At", "-U", "postgres", "-c", "SELECT 1"]).catch((error: unknown) => ({ exitCode: -1, stderr: String(error) }));
    if (result.exitCode === 0) return;
    assert.ok(Date.now() < deadline, `${container} does not answer: ${result.stderr}`);
    await sleep(250);
  }
}

describe("pgfort status: live usage and settings in force", function () {
  it("shows memory used and the configured limit, restarts, the kernel's OOM kills, and which file set each tuned setting", async function () {
    const port = await freePort();
    const workspace = await Workspace.create(
      (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 256m, cpus: 1 }\n  settings: { work_mem: 8MB }\n`,
    );
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;

    // A crash of the container's main process (SIGKILL from the host, as the kernel or an operator
    // would): Docker's restart policy brings it back and counts it.
    const before = await engineApi.getContainer(primary).inspect();
    process.kill(before.State.Pid, "SIGKILL");
    const deadline = Date.now() + 60_000;
    while ((await engineApi.getContainer(primary).inspect()).RestartCount < 1) {
      assert.ok(Date.now() < deadline, "Docker did not restart the killed container");
      await sleep(250);
    }
    await untilAnswering(primary);

    // A backend that outgrows the 256 MiB limit: the kernel kills it, the postmaster survives.
    const hog = await (await docker()).exec(primary, ["psql", "-X", "-U", "postgres", "-c", "SELECT length(string_agg(repeat('x', 1000000), '')) FROM generate_series(1, 600)"]);
    assert.notEqual(hog.exitCode, 0, "the query outgrew the limit and was killed");
    await untilAnswering(primary);

    const result = await workspace.ok("status", "--json");
    const node = (JSON.parse(result.stdout) as { nodes: StatusNode[] }).nodes.find((candidate) => candidate.node === "primary");
    assert.ok(node, result.stdout);
    const inspect = await engineApi.getContainer(primary).inspect();
    assert.equal(inspect.HostConfig.Memory, 256 * MIB);
    assert.equal(node.usage.memoryLimitBytes, 256 * MIB);
    assert.ok((node.usage.memoryUsedBytes ?? 0) > 1 * MIB && (node.usage.memoryUsedBytes ?? 0) < 256 * MIB, `memory used ${node.usage.memoryUsedBytes}`);
    assert.ok(node.usage.cpuPercent !== null && node.usage.cpuPercent >= 0, `cpu ${node.usage.cpuPercent}`);
    assert.equal(inspect.RestartCount, 1);
    assert.equal(node.usage.restarts, 1);
    const oomControl = await (await docker()).exec(primary, ["cat", "/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"]);
    assert.match(oomControl.stdout, /^oom_kill 1$/m, "the kernel counted one OOM kill");
    assert.equal(node.usage.oomKills, 1);
    assert.equal(inspect.State.OOMKilled, false, "the engine's flag misses a backend's OOM kill");
    assert.equal(node.usage.lastExitOomKilled, false);

    const setting = (name: string) => node.settings?.find((candidate) => candidate.name === name);
    assert.equal(setting("shared_buffers")?.value, await psql(primary, "SHOW shared_buffers"));
    assert.equal(setting("shared_buffers")?.value, "64MB");
    assert.equal(setting("shared_buffers")?.file, "10-memory.conf");
    assert.equal(setting("shared_buffers")?.origin, "memory-limit");
    assert.match(await psql(primary, "SELECT sourcefile FROM pg_settings WHERE name = 'shared_buffers'"), /\/10-memory\.conf$/);
    assert.equal(setting("work_mem")?.value, "8MB");
    assert.equal(setting("work_mem")?.file, "90-overrides.conf");
    assert.equal(setting("work_mem")?.origin, "settings");
    assert.equal(setting("max_parallel_workers")?.file, "15-parallelism.conf");
    assert.equal(setting("max_parallel_workers")?.value, await psql(primary, "SHOW max_parallel_workers"));

    const text = (await workspace.ok("status")).stdout;
    assert.match(text, new RegExp(`^${primary}\\s+\\d+\\.\\d \\w+ / 256\\.0 MiB\\s+\\d+\\.\\d%\\s+1\\s+1$`, "m"), text);
    assert.match(text, /^\s+shared_buffers\s+64MB\s+10-memory\.conf \(tuned to the 256\.0 MiB memory limit\)$/m, text);
    assert.match(text, /^\s+work_mem\s+8MB\s+90-overrides\.conf \(primary\.settings in pgfort\.yaml\)$/m, text);
    assert.match(text, /^\s+max_parallel_workers\s+1\s+15-parallelism\.conf \(tuned to the 1 CPU limit\)$/m, text);
  });
});
