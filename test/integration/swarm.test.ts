// engine: swarm (issue 14) on a swarm of three Docker engines on this machine
// (./swarm-harness.ts): the primary pinned to n1, replicas to n2 and n3, replication over TLS
// across the overlay network; the agent service beside the primary taking a scheduled physical
// backup, drilling it and archiving WAL into S3 (s3rver on this host, at the nodes' gateway); the
// pooler serving a client on another node; backup run and verify by hand as job services; node 1 killed, r1 promoted through the manager on n2,
// r2 following it, the agent and the pooler following the primary, n1 back without a second
// primary; replica remove; `pgfort down` leaving nothing on the swarm. Every check asks the nodes'
// engines, psql in the task containers, or the bucket, not pgfort. The harness's objects carry the
// cluster's label: the hooks remove them even when the test fails.
import assert from "node:assert/strict";
import { agentImageTag } from "../../src/agent/contract";
import { DockerClient } from "../../src/docker/client";
import { ensureRegistryImage } from "../../src/swarm/registry";
import { runCli, type CliResult } from "./cli";
import { IMAGE } from "./postgres";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { startS3 } from "./s3";
import { startSwarm, SWARM_GATEWAY, type Swarm, type SwarmNode } from "./swarm-harness";
import { eventually } from "./waiting";
import { Workspace } from "./workspace";

describe("engine: swarm", function () {
  let swarm: Swarm | undefined;
  afterEach(async function () {
    await swarm?.teardown();
    swarm = undefined;
  });

  it("runs the primary on n1 and replicas on n2 and n3 over TLS, backs up, drills and archives from the agent service, promotes r1 when n1 is lost (agent and pooler follow) without a second primary, and leaves nothing after down", async function () {
    this.timeout(30 * 60_000);
    // S3 on this host, reached by the agent's node at the nodes' gateway (as a fleet reaches its object store).
    const s3 = await startS3("s3rver", "pgfort-swarm");
    const s3Port = new URL(s3.endpoint).port;
    const workspace = await Workspace.create(
      (cluster) => `cluster: ${cluster}
engine: swarm
primary: { node: n1, resources: { memory: 256m, cpus: 1 } }
replicas:
  - { name: r1, node: n2 }
  - { name: r2, node: n3 }
backups:
  target: s3://${s3.bucket}/fleet
  s3: { endpoint: "http://${SWARM_GATEWAY}:${s3Port}", forcePathStyle: true }
  jobs:
    - { name: often, kind: physical, schedule: "*/20 * * * * *", verify: true }
wal: { archiveTimeout: 10s }
pooler: { resources: { memory: 64m } }
`,
    );
    const { cluster } = workspace;
    const stored = async (prefix: string) => s3.keys(`fleet/${cluster}/${prefix}`);
    const service = (node: string) => `${cluster}-${node}`;
    // The images pgfort would build on the manager: built on this host, loaded into n1 only. n2 and
    // n3 get the server image from the swarm's registry, as a real fleet would.
    const registryImage = await ensureRegistryImage(await DockerClient.connect());
    swarm = await startSwarm({ cluster, heartbeatSeconds: 1, log: (line) => console.error(`      ${line}`) });
    const [n1, n2, n3] = swarm.nodes as [SwarmNode, SwarmNode, SwarmNode];
    await swarm.loadImages([IMAGE, agentImageTag(IMAGE), registryImage], [n1]);
    const pgfort = (host: SwarmNode, ...args: string[]): Promise<CliResult> => runCli(args, { cwd: workspace.directory, env: { ...s3.env, DOCKER_HOST: host.dockerHost } });
    const ok = async (host: SwarmNode, ...args: string[]): Promise<CliResult> => {
      const result = await pgfort(host, ...args);
      assert.equal(result.code, 0, `pgfort ${args.join(" ")} exited ${result.code}:\n${result.stderr}\n${result.stdout}`);
      return result;
    };
    // When a server has no running task: its tasks as the managers see them, and the end of its containers' logs on its node.
    const explain = async (node: SwarmNode, server: string): Promise<string> => {
      const manager = swarm!.nodes.find((candidate) => candidate !== node && candidate.hostname !== "n1") ?? node;
      const tasks = (await manager.docker.listTasks({ filters: { service: [service(server)] } }).catch(() => [])) as Array<Record<string, any>>;
      const lines = tasks.map((task) => `task ${String(task["ID"]).slice(0, 12)} desired ${task["DesiredState"]} state ${task["Status"]?.["State"]} ${task["Status"]?.["Err"] ?? ""}`);
      for (const info of await node.docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${service(server)}`] } })) {
        const log = (await node.docker.getContainer(info.Id).logs({ stdout: true, stderr: true, tail: 15 })).toString("utf8");
        lines.push(`container ${info.Names[0] ?? ""} ${info.Status}:`, log.replace(/[\x00-\x08]/g, ""));
      }
      return lines.join("\n");
    };
    const sql = async (node: SwarmNode, server: string, statement: string): Promise<string> => {
      const container = await swarm?.taskContainer(node, service(server));
      if (!container) assert.fail(`no running task of ${service(server)} on ${node.hostname}:\n${await explain(node, server)}`);
      const result = await swarm!.exec(node, container, ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-tAc", statement], { user: "postgres" });
      assert.equal(result.exitCode, 0, `psql on ${server}: ${result.stderr}`);
      return result.stdout.trim();
    };

    // A client on n3's r2 task, through the pooler service over the overlay, with TLS and the superuser's password.
    const throughPooler = async (statement: string): Promise<string> => {
      const container = await swarm?.taskContainer(n3, service("r2"));
      if (!container) assert.fail(`no running task of ${service("r2")} on n3:\n${await explain(n3, "r2")}`);
      const password = (await workspace.read(".pgfort", cluster, "secrets", "postgres-password")).trim();
      const result = await swarm!.exec(n3, container, ["psql", "-X", `host=${service("pooler")} port=6432 sslmode=require user=postgres dbname=postgres connect_timeout=5`, "-tAc", statement], { user: "postgres", env: [`PGPASSWORD=${password}`] });
      assert.equal(result.exitCode, 0, `psql through the pooler: ${result.stderr}`);
      return result.stdout.trim();
    };

    // 1. Up: three services, each on its node, the replicas streaming over TLS.
    const up = await ok(n1, "up");
    assert.match(up.stdout, new RegExp(`${service("primary")}: created on n1`));
    await eventually(240_000, async () => {
      assert.equal(await sql(n1, "primary", "SELECT pg_is_in_recovery()"), "f");
      assert.equal(await sql(n2, "r1", "SELECT pg_is_in_recovery()"), "t");
      assert.equal(await sql(n3, "r2", "SELECT pg_is_in_recovery()"), "t");
    }, 2000);
    await sql(n1, "primary", "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000)");
    await eventually(60_000, async () => {
      assert.equal(await sql(n2, "r1", "SELECT count(*) FROM orders"), "1000");
      assert.equal(await sql(n3, "r2", "SELECT count(*) FROM orders"), "1000");
    }, 1000);
    assert.equal(
      await sql(n1, "primary", "SELECT string_agg(r.application_name || ':' || s.ssl, ',' ORDER BY r.application_name) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"),
      "r1:true,r2:true",
    );
    // The pooler, beside the primary on n1, serves a client on n3.
    assert.equal(await throughPooler("SELECT count(*) FROM orders"), "1000");
    // Images reached n2 and n3 from the registry on n1, by digest.
    const pulled = await n2.docker.listImages();
    assert.ok(pulled.some((image) => (image.RepoDigests ?? []).some((digest) => digest.startsWith(`${n1.ip}:5000/`))), JSON.stringify(pulled.map((image) => image.RepoDigests)));
    // A second up changes nothing.
    const again = (await ok(n1, "up")).stdout;
    assert.match(again, new RegExp(`${service("r2")}: unchanged on n3`));
    assert.match(again, new RegExp(`${service("agent")}: unchanged on n1`));

    // The agent service, beside the primary on n1: its schedule takes a physical backup and drills
    // it, and it archives the primary's WAL, all into S3 (read straight from the bucket).
    const agentTasks = await n1.docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service("agent")}`] } });
    assert.equal(agentTasks.length, 1, "the agent's task runs on n1");
    let verdict: { status?: string; checks?: Array<{ name: string; ok: boolean }> } = {};
    await eventually(300_000, async () => {
      const keys = await stored("physical/");
      const manifest = keys.find((key) => key.endsWith("/manifest.json"));
      assert.ok(manifest, `a complete physical backup in S3: ${keys.join(" ")}`);
      const verdicts = keys.filter((key) => /\/verify-[^/]+\.json$/.test(key));
      assert.ok(verdicts.length > 0, `a drill verdict in S3: ${keys.join(" ")}`);
      const body = await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: verdicts[0] }));
      verdict = JSON.parse(await body.Body?.transformToString("utf8") ?? "{}");
    }, 3000);
    assert.equal(verdict.status, "passed", JSON.stringify(verdict));
    assert.ok((verdict.checks ?? []).length > 0 && (verdict.checks ?? []).every((check) => check.ok), JSON.stringify(verdict));
    // By hand too: backup run and backup verify run as job services beside the agent, and go.
    const manual = JSON.parse((await ok(n1, "--json", "backup", "run", "--kind", "logical")).stdout) as { id: string; kind: string };
    assert.ok((await stored(`logical/${manual.id}/`)).some((key) => key.endsWith("/manifest.json")), `the logical backup ${manual.id} is complete in S3`);
    const drilled = await ok(n1, "backup", "verify", manual.id);
    assert.match(drilled.stdout, new RegExp(`backup ${manual.id}: verify passed`));
    assert.ok((await stored(`logical/${manual.id}/`)).some((key) => /\/verify-[^/]+\.json$/.test(key)), "its verdict is in S3");
    const jobServices = (await n1.docker.listServices({ filters: { label: [`pgfort.cluster=${cluster}`] } })).map((item) => item.Spec?.Name ?? "").filter((name) => /-(backup|verify)-/.test(name));
    assert.deepEqual(jobServices, [], "no job service is left");
    // backup list only reads the target: it works on a swarm too.
    assert.match((await ok(n1, "backup", "list")).stdout, /physical\s+complete\s+.*verify passed/);
    const walOnTimeline1 = async () => (await stored("wal/")).filter((key) => /\/wal\/00000001[0-9A-F]{16}\./.test(key));
    await eventually(120_000, async () => assert.ok((await walOnTimeline1()).length > 0, "the primary's WAL archived by the agent"), 2000);

    // 2. n1 is lost; the manager on n2 promotes r1, r2 follows it.
    await swarm.kill(n1);
    // As an operator would: the remaining managers elect a leader and mark n1 down (seconds).
    await eventually(120_000, async () => {
      const nodes = await n2.docker.listNodes();
      assert.equal(nodes.find((node) => node.Description?.Hostname === "n1")?.Status?.State, "down");
    }, 1000);
    const promote = await ok(n2, "replica", "promote", "r1", "--yes");
    assert.match(promote.stdout, /its node was down/);
    assert.match(promote.stdout, new RegExp(`${service("agent")} moves to n2`));
    assert.match(promote.stdout, new RegExp(`${service("pooler")} moves to n2`));
    assert.equal(await sql(n2, "r1", "SELECT pg_is_in_recovery()"), "f");
    await sql(n2, "r1", "INSERT INTO orders SELECT generate_series(1001, 1500)");
    await eventually(180_000, async () => {
      assert.equal(await sql(n3, "r2", "SELECT count(*) FROM orders"), "1500");
      assert.equal(await sql(n2, "r1", "SELECT string_agg(application_name || ':' || state, ',') FROM pg_stat_replication"), "r2:streaming");
    }, 2000);

    // n1 comes back: its old primary is not started again.
    await swarm.start(n1);
    await swarm.waitReady({ from: n2 });
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const running = await n1.docker.listContainers({ filters: { label: [`pgfort.cluster=${cluster}`, "pgfort.node=primary"] } });
    assert.deepEqual(running.map((container) => container.Names[0]), []);
    assert.equal(await sql(n2, "r1", "SELECT pg_is_in_recovery()"), "f");
    assert.equal(await sql(n3, "r2", "SELECT pg_is_in_recovery()"), "t");
    // The agent followed the primary to n2 (its image comes from the registry on n1, now back):
    // timeline 2's history file reaches the archive, from the new primary's spool there.
    await eventually(240_000, async () => {
      const history = (await stored("wal/")).filter((key) => /\/wal\/00000002\.history\./.test(key));
      assert.equal(history.length, 1, "timeline 2 archived by the agent on n2");
    }, 2000);
    // The pooler followed too: through it, the new primary, with every row.
    await eventually(120_000, async () => assert.equal(await throughPooler("SELECT pg_is_in_recovery()::text || ':' || count(*) FROM orders"), "false:1500"), 2000);
    const movedAgent = await n2.docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service("agent")}`] } });
    assert.equal(movedAgent.length, 1, "the agent's task runs on n2");
    const status = (await ok(n2, "status")).stdout;
    assert.match(status, new RegExp(`${service("r1")} \\[primary\\]: running on n2`));
    assert.match(status, new RegExp(`${service("primary")} \\[former primary\\]: fenced`));

    // pgfort now runs on n2's manager: there it builds its images, as it did on n1 (loaded here: no base image is pullable).
    await swarm.loadImages([IMAGE, agentImageTag(IMAGE), registryImage], [n2]);
    // replica remove on a swarm: r2's service, its slot on r1 (dropped by a job on n2), its volumes on n3.
    const removed = await ok(n2, "replica", "remove", "r2", "--volumes", "--yes");
    assert.match(removed.stdout, /slot dropped/);
    assert.match(removed.stdout, /r2 is still in pgfort.yaml/);
    assert.equal(await sql(n2, "r1", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'r2'"), "0");
    assert.deepEqual((await n2.docker.listServices({ filters: { name: [service("r2")] } })).map((item) => item.Spec?.Name), []);
    assert.deepEqual(((await n3.docker.listVolumes({ filters: { label: [`pgfort.cluster=${cluster}`] } })).Volumes ?? []).map((volume) => volume.Name), [`${cluster}-sockets`]);

    // 3. Down: no service, secret, config or network of the cluster is left on the swarm.
    await ok(n2, "down");
    const filters = { label: [`pgfort.cluster=${cluster}`] };
    await eventually(30_000, async () => {
      const [services, secrets, configs, networks] = await Promise.all([
        n2.docker.listServices({ filters }),
        n2.docker.listSecrets({ filters }),
        n2.docker.listConfigs({ filters }),
        n2.docker.listNetworks({ filters }),
      ]);
      assert.deepEqual({ services: services.length, secrets: secrets.length, configs: configs.length, networks: networks.length }, { services: 0, secrets: 0, configs: 0, networks: 0 });
    }, 1000);
    // The volumes stay without --volumes; with it, they are gone from every node.
    const volumesOf = async (node: SwarmNode) => ((await node.docker.listVolumes({ filters })).Volumes ?? []).map((volume) => volume.Name).sort();
    // (The registry moved to n2 when pgfort ran there: its volume too.)
    assert.deepEqual(await volumesOf(n2), [`${cluster}-agent-scratch`, `${service("r1")}-data`, `${service("r1")}-wal`, `${cluster}-registry-data`, `${cluster}-sockets`]);
    await ok(n2, "down", "--volumes", "--yes");
    assert.deepEqual({ n1: await volumesOf(n1), n2: await volumesOf(n2), n3: await volumesOf(n3) }, { n1: [], n2: [], n3: [] });
    assert.deepEqual((await n2.docker.listServices({ filters })).length, 0);
  });
});
