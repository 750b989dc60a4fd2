import assert from "node:assert/strict";
import net from "node:net";
import { docker, psql, engineApi } from "./postgres";
import { freePort, Workspace } from "./workspace";

const LIMITS = "{ memory: 512m, cpus: 1, pids: 256, shm: 128m, blkioWeight: 300 }";

async function limitedCluster(settings = "{}"): Promise<{ workspace: Workspace; port: number }> {
  const port = await freePort();
  const workspace = await Workspace.create(
    (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: ${LIMITS}\n  settings: ${settings}\n`,
  );
  return { workspace, port };
}

describe("pgfort up / status / config / down", function () {
  it("applies exactly the configured limits, tunes Postgres to them, and a second up changes nothing", async function () {
    const { workspace } = await limitedCluster();
    const first = await workspace.ok("up");
    const name = `${workspace.cluster}-primary`;
    const engine = await docker();
    const info = await engine.inspectContainerIfExists(name);
    assert.ok(info);
    const host = info.HostConfig;
    assert.equal(host.Memory, 512 * 1024 ** 2);
    assert.equal(host.MemorySwap, host.Memory, "no swap: MemorySwap equals Memory");
    assert.equal(host.NanoCpus, 1e9);
    assert.equal(host.PidsLimit, 256);
    assert.equal(host.ShmSize, 128 * 1024 ** 2);
    if (host.BlkioWeight !== 300) {
      // This kernel cannot honour block-IO weight: Docker drops it, and pgfort must say so.
      assert.match(first.stderr, /warning: primary\.resources\.blkioWeight is not honoured by this host: .*Block I\/O weight/);
    }
    assert.equal(await psql(name, "SHOW shared_buffers"), "128MB");
    assert.equal(await psql(name, "SHOW effective_cache_size"), "384MB");
    assert.equal(await psql(name, "SHOW max_parallel_workers_per_gather"), "0");

    const second = await workspace.ok("up");
    assert.match(second.stdout, new RegExp(`${name}: unchanged`));
    assert.equal((await engine.inspectContainerIfExists(name))?.Id, info.Id);
  });

  it("hardens the container and keeps the password out of inspect, argv and logs", async function () {
    const { workspace, port } = await limitedCluster();
    const result = await workspace.ok("up");
    const name = `${workspace.cluster}-primary`;
    const info = await (await docker()).inspectContainerIfExists(name);
    assert.ok(info);
    assert.equal(info.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
    assert.ok(info.HostConfig.SecurityOpt?.some((option: string) => option.startsWith("no-new-privileges")));
    assert.deepEqual(info.HostConfig.PortBindings?.["5432/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(port) }]);
    assert.equal(info.HostConfig.LogConfig?.Type, "json-file");
    assert.equal(info.HostConfig.LogConfig?.Config?.["max-size"], "10m");

    const password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();
    assert.ok(password.length >= 24);
    assert.ok(!JSON.stringify(info).includes(password), "the password is in docker inspect");
    const { Processes } = await engineApi.getContainer(name).top({ ps_args: "-o pid,args" });
    assert.ok(!JSON.stringify(Processes).includes(password), "the password is in a process's arguments");
    assert.ok(!(await (await docker()).logTail(name, 1000)).includes(password), "the password is in the log");
    assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), "pgfort printed the password");
    assert.match(result.stdout, /password file: .*secrets\/postgres-password/);
  });

  it("applies a new work_mem by reload, and rolls back an invalid one leaving the server healthy", async function () {
    const { workspace } = await limitedCluster();
    await workspace.ok("up");
    const name = `${workspace.cluster}-primary`;
    const started = await psql(name, "SELECT pg_postmaster_start_time()");

    await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace("settings: {}", "settings: { work_mem: 8MB }"));
    const check = await workspace.ok("config", "check");
    assert.match(check.stdout, /work_mem: 1310kB -> 8MB/);
    assert.equal(await psql(name, "SHOW work_mem"), "1310kB", "check must not change anything");
    await workspace.ok("config", "apply");
    assert.equal(await psql(name, "SHOW work_mem"), "8MB");
    assert.equal(await psql(name, "SELECT pg_postmaster_start_time()"), started, "the server was restarted");
    const goodFiles = await workspace.read(".pgfort", workspace.cluster, "primary", "conf.d", "90-overrides.conf");

    await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace("work_mem: 8MB", "work_mem: banana"));
    const bad = await workspace.run("config", "apply");
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /error: .* rejects the new configuration: invalid value for parameter "work_mem": "banana"/);
    assert.equal(await psql(name, "SHOW work_mem"), "8MB");
    assert.equal(await workspace.read(".pgfort", workspace.cluster, "primary", "conf.d", "90-overrides.conf"), goodFiles);
    await (await docker()).waitUntilHealthy(name, 10_000);
    assert.equal(await psql(name, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL"), "0");
  });

  it("reports a setting that needs a restart, and restarts only with --restart", async function () {
    const { workspace } = await limitedCluster();
    await workspace.ok("up");
    const name = `${workspace.cluster}-primary`;
    await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace("settings: {}", "settings: { shared_buffers: 96MB }"));
    const applied = await workspace.ok("config", "apply");
    assert.match(applied.stdout, /needs a restart to take effect: shared_buffers/);
    assert.equal(await psql(name, "SHOW shared_buffers"), "128MB");
    await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace("shared_buffers: 96MB", "shared_buffers: 80MB"));
    await workspace.ok("config", "apply", "--restart");
    assert.equal(await psql(name, "SHOW shared_buffers"), "80MB");
  });

  it("prints status as JSON, and down --volumes --yes leaves nothing of the cluster", async function () {
    const { workspace } = await limitedCluster();
    await workspace.ok("up");
    const status = JSON.parse((await workspace.ok("status", "--json")).stdout) as {
      nodes: Array<{ role: string; health: string; limits: { memoryBytes: number }; connections: number }>;
    };
    assert.equal(status.nodes.length, 1);
    assert.equal(status.nodes[0]?.role, "primary");
    assert.equal(status.nodes[0]?.health, "healthy");
    assert.equal(status.nodes[0]?.limits.memoryBytes, 512 * 1024 ** 2);
    assert.equal(typeof status.nodes[0]?.connections, "number");

    const refused = await workspace.run("down", "--volumes");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /hint: add --yes/);
    const engine = await docker();
    const volumes = (await engineApi.listVolumes({ filters: { label: [`pgfort.cluster=${workspace.cluster}`] } })).Volumes ?? [];
    assert.deepEqual(volumes.map((volume) => volume.Name.slice(workspace.cluster.length)).sort(), ["-agent-scratch", "-primary-data", "-primary-wal", "-secrets", "-sockets"]);

    await workspace.ok("down", "--volumes", "--yes");
    const left = await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`] });
    assert.deepEqual(left, { containers: [], volumes: [], networks: [] });
  });

  it("rejects bad input with one clear line and leaves no objects behind", async function () {
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary: { resources: { memroy: 1g } }\n`);
    const unknownKey = await workspace.run("up");
    assert.equal(unknownKey.code, 2);
    assert.match(unknownKey.stderr, /^error: invalid config .*pgfort\.yaml: primary\.resources: unknown key\(s\) memroy$/m);

    await workspace.writeConfig(`cluster: ${workspace.cluster}\nprimary: { resources: { memory: lots } }\n`);
    const wrongSize = await workspace.run("up");
    assert.equal(wrongSize.code, 2);
    assert.match(wrongSize.stderr, /primary\.resources\.memory: expected a size like 512m or 1g, got "lots"/);

    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      await workspace.writeConfig(`cluster: ${workspace.cluster}\nprimary: { port: ${port} }\n`);
      const portInUse = await workspace.run("up");
      assert.notEqual(portInUse.code, 0);
      assert.match(portInUse.stderr, /address already in use/);
      assert.match(portInUse.stderr, /hint: free that port, or choose another port in the config/);
    } finally {
      blocker.close();
    }
    const engine = await docker();
    assert.deepEqual(await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`] }), { containers: [], volumes: [], networks: [] });

    await workspace.writeConfig(
      `cluster: ${workspace.cluster}\nimage: { tag: "pgfort-test/${workspace.cluster}:15", base: "debian:no-such-base" }\n`,
    );
    const noImage = await workspace.run("up");
    assert.notEqual(noImage.code, 0);
    assert.match(noImage.stderr, /error: the base image debian:no-such-base is not on this host and cannot be pulled/);
    assert.deepEqual(await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`] }), { containers: [], volumes: [], networks: [] });
  });

  it("config check only reads: it never builds a missing image", async function () {
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nimage: { tag: "pgfort-test/${cluster}-never-built:15" }\n`);
    const check = await workspace.ok("config", "check");
    assert.match(check.stdout, /primary: apply would change/);
    await assert.rejects(engineApi.getImage(`pgfort-test/${workspace.cluster}-never-built:15`).inspect(), /no such image/i);
    const filters = { label: [`pgfort.cluster=${workspace.cluster}`] };
    assert.deepEqual(await engineApi.listContainers({ all: true, filters }), []);
  });

  it("keeps the old container when a changed spec cannot start", async function () {
    const { workspace } = await limitedCluster();
    await workspace.ok("up");
    const name = `${workspace.cluster}-primary`;
    await psql(name, "CREATE TABLE survives AS SELECT 1 AS one");
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace(/port: \d+/, `port: ${port}`));
      const failed = await workspace.run("up");
      assert.notEqual(failed.code, 0);
    } finally {
      blocker.close();
    }
    await (await docker()).waitUntilHealthy(name, 30_000);
    assert.equal(await psql(name, "SELECT one FROM survives"), "1");
  });
});
