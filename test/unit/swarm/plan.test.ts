import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/load";
import { planSwarmAgent, swarmAgentAbsence } from "../../../src/swarm/agent";
import { planSwarmPooler } from "../../../src/swarm/pooler";
import { planHandOffJob } from "../../../src/swarm/handoff";
import { planJobService, taskExitCode } from "../../../src/swarm/job";
import { planPinnedService, planMemberService, planRegistryService, planSwarmCluster, storedName, type MemberPlan } from "../../../src/swarm/plan";
import { registryTrusted } from "../../../src/swarm/registry";
import { checkPinnedNodes } from "../../../src/swarm/up";

const facts = { cpus: 2, memoryBytes: 4 * 1024 ** 3, imageId: "sha256:abc", defaultConfD: new Map([["00-defaults.conf", "port = 5432\n"]]) };
const secrets = new Map([
  ["postgres-password", "pw"],
  ["replication-password", "rpw"],
  ["tls-server.key", "KEY"],
]);
const IMAGE = "10.0.0.1:5000/pgfort/postgres@sha256:0123";

type Spec = Record<string, any>;

function specOf(member: MemberPlan | undefined): Spec {
  assert.ok(member);
  const ids = new Map(planSwarmCluster(config, "/state", { facts, secrets, primary: "primary" }).stored.map((object) => [object.name, `id-${object.name}`]));
  return planMemberService(member, IMAGE, ids).spec as Spec;
}

const config = parseConfig(
  "cluster: app\nengine: swarm\n" +
    "primary: { node: n1, port: 6543, resources: { memory: 256m, swap: 0, swappiness: 0, cpus: 1.5, cpuShares: 512, pids: 300, shm: 96m, nofile: 8192, blkioWeight: 300 } }\n" +
    "replicas: [ { name: r1, node: n2 }, { name: r2, node: n3 } ]",
);

describe("engine: swarm's plan", function () {
  const plan = planSwarmCluster(config, "/state", { facts, secrets, primary: "primary" });
  const [primary, r1, r2] = plan.members;

  it("pins each server to its node, with the container's image, environment, limits and hardening", function () {
    assert.deepEqual(plan.members.map((member) => [member.node, member.swarmNode, member.replicas]), [["primary", "n1", 1], ["r1", "n2", 1], ["r2", "n3", 1]]);
    const spec = specOf(primary);
    assert.equal(spec["Name"], "app-primary");
    assert.deepEqual(spec["TaskTemplate"]["Placement"]["Constraints"], ["node.hostname == n1"]);
    const container = spec["TaskTemplate"]["ContainerSpec"];
    assert.equal(container["Image"], IMAGE);
    assert.equal(container["ReadOnly"], true);
    assert.deepEqual(container["CapabilityDrop"], ["ALL"]);
    assert.deepEqual(container["Ulimits"], [{ Name: "nofile", Soft: 8192, Hard: 8192 }]);
    assert.equal(container["StopGracePeriod"], 60e9);
    assert.deepEqual(spec["TaskTemplate"]["Resources"]["Limits"], { NanoCPUs: 1.5e9, MemoryBytes: 256 * 1024 ** 2, Pids: 300 });
    assert.deepEqual(
      container["Mounts"].map((mount: Spec) => [mount["Type"], mount["Source"] ?? null, mount["Target"], mount["TmpfsOptions"]?.["SizeBytes"] ?? null]),
      [
        ["volume", "app-primary-data", "/var/lib/postgresql/data", null],
        ["volume", "app-primary-wal", "/var/lib/postgresql/wal", null],
        ["volume", "app-sockets", "/var/run/pgfort-sockets", null],
        ["tmpfs", null, "/var/run/postgresql", 16 * 1024 ** 2],
        ["tmpfs", null, "/tmp", 64 * 1024 ** 2],
        ["tmpfs", null, "/dev/shm", 96 * 1024 ** 2],
      ],
    );
    // The volumes a task creates on its node carry the cluster's labels (down --volumes finds them by those).
    for (const mount of container["Mounts"].filter((item: Spec) => item["Type"] === "volume")) {
      assert.equal(mount["VolumeOptions"]["Labels"]["pgfort.cluster"], "app", JSON.stringify(mount));
    }
    // Never two servers on one volume during an update; no IPVS needed.
    assert.equal(spec["UpdateConfig"]["Order"], "stop-first");
    assert.equal(spec["EndpointSpec"]["Mode"], "dnsrr");
    assert.deepEqual(spec["TaskTemplate"]["Networks"], [{ Target: "app-net", Aliases: ["primary"] }]);
  });

  it("gives every server the secrets as postgres-owned 0400 files and its conf.d as configs where the server reads them", function () {
    const container = specOf(primary)["TaskTemplate"]["ContainerSpec"];
    assert.deepEqual(
      container["Secrets"].map((secret: Spec) => [secret["File"]["Name"], secret["File"]["UID"], secret["File"]["Mode"], secret["SecretID"] === `id-${secret["SecretName"]}`]),
      [["postgres-password", "999", 0o400, true], ["replication-password", "999", 0o400, true], ["tls-server.key", "999", 0o400, true]],
    );
    const targets = container["Configs"].map((item: Spec) => item["File"]["Name"]);
    assert.ok(targets.includes("/etc/postgresql/conf.d/00-defaults.conf"), targets.join(" "));
    assert.ok(targets.every((target: string) => target.startsWith("/etc/postgresql/conf.d/")));
  });

  it("makes the primary create the replication role and each replica its slot, following the primary", function () {
    const env = (member: MemberPlan | undefined) => specOf(member)["TaskTemplate"]["ContainerSpec"]["Env"] as string[];
    assert.ok(env(primary).includes("PGFORT_REPLICATION_PASSWORD_FILE=/run/secrets/replication-password"));
    assert.ok(!env(primary).some((entry) => entry.startsWith("PGFORT_PRIMARY_HOST=")));
    for (const replica of [r1, r2]) {
      assert.ok(env(replica).includes("PGFORT_PRIMARY_HOST=app-primary"));
      assert.ok(env(replica).includes("PGFORT_CREATE_SLOT=1"));
    }
    assert.deepEqual(specOf(r2)["TaskTemplate"]["Placement"]["Constraints"], ["node.hostname == n3"]);
  });

  it("after a promotion: the former primary at zero, the new one without upstream, the others following it", function () {
    const promoted = planSwarmCluster(config, "/state", { facts, secrets, primary: "r1" });
    const byNode = new Map(promoted.members.map((member) => [member.node, member]));
    assert.equal(byNode.get("primary")?.replicas, 0);
    assert.equal(byNode.get("r1")?.plan.role, "primary");
    const env = (node: string) => byNode.get(node)?.plan.create.Env ?? [];
    assert.ok(!env("r1").some((entry) => entry.startsWith("PGFORT_PRIMARY_HOST=")));
    assert.ok(env("r2").includes("PGFORT_PRIMARY_HOST=app-r1"));
    assert.ok(env("primary").includes("PGFORT_PRIMARY_HOST=app-r1"));
  });

  it("does not archive WAL on a swarm without an agent to take it", function () {
    for (const member of plan.members) assert.match(member.plan.confD.get("25-archive.conf") ?? "", /archive_mode = (off|false)/);
    assert.equal(plan.agent, undefined);
    assert.match(swarmAgentAbsence(config) ?? "", /file:\/\/ target would be a directory on the primary's node/);
  });

  describe("the agent as a service (an s3:// target)", function () {
    const s3Config = parseConfig(
      "cluster: app\nengine: swarm\nprimary: { node: n1 }\nreplicas: [ { name: r1, node: n2 }, { name: r2, node: n3 } ]\n" +
        "backups: { target: s3://bucket/app, physical: { engine: parallel }, jobs: [ { name: nightly, kind: physical, schedule: '0 3 * * *', verify: true } ] }",
    );
    const loaded = { config: s3Config, file: undefined, baseDir: "/work", stateDir: "/state" };
    const agentFor = (primary: string, swarmNode: string) =>
      planSwarmAgent(loaded, {
        configText: "cluster: app",
        primary,
        swarmNode,
        servers: primary === "primary" ? ["primary", "r1", "r2"] : ["r1", "r2"],
        serverSecrets: secrets,
        credentials: "[default]\naws_access_key_id = K\n",
        s3Env: { AWS_SHARED_CREDENTIALS_FILE: "/run/secrets/aws-credentials", AWS_REGION: "us-east-1", PGFORT_S3_ENDPOINT: "http://10.0.0.1:9000" },
      });
    const agentPlan = planSwarmCluster(s3Config, "/state", { facts, secrets, primary: "primary", agent: agentFor("primary", "n1") });
    const ids = new Map(agentPlan.stored.map((object) => [object.name, `id-${object.name}`]));
    const agentSpec = () => {
      assert.ok(agentPlan.agent);
      return planPinnedService(agentPlan.agent, IMAGE, ids, "backups.resources").spec as Spec;
    };

    it("pins the agent beside the primary, sharing its socket volume (the WAL spool) and its data volumes, with no Docker socket", function () {
      const spec = agentSpec();
      assert.equal(spec["Name"], "app-agent");
      assert.deepEqual(spec["TaskTemplate"]["Placement"]["Constraints"], ["node.hostname == n1"]);
      const container = spec["TaskTemplate"]["ContainerSpec"];
      assert.deepEqual(container["Args"], ["agent"]);
      assert.equal(container["Init"], true);
      assert.match(container["HealthCheck"]["Test"].join(" "), /health-probe\.js/);
      assert.deepEqual(
        container["Mounts"].filter((mount: Spec) => mount["Type"] === "volume").map((mount: Spec) => [mount["Source"], mount["Target"], mount["ReadOnly"]]),
        [
          ["app-sockets", "/var/run/pgfort-sockets", false],
          ["app-agent-scratch", "/var/lib/pgfort/scratch", false],
          ["app-primary-data", "/var/lib/postgresql/data", true],
          ["app-primary-wal", "/var/lib/postgresql/wal", true],
        ],
      );
      assert.ok(!JSON.stringify(container["Mounts"]).includes("docker.sock"));
      assert.ok(container["Env"].includes("PGFORT_S3_ENDPOINT=http://10.0.0.1:9000"));
      assert.ok(!container["Env"].some((entry: string) => /aws_access_key_id|AWS_SECRET/.test(entry)), "credentials never in Env");
    });

    it("gives the agent its config file and S3 credentials as secrets beside the servers' files, and keeps WAL archiving on", function () {
      const container = agentSpec()["TaskTemplate"]["ContainerSpec"];
      assert.deepEqual(container["Secrets"].map((secret: Spec) => secret["File"]["Name"]).sort(), ["agent.json", "aws-credentials", "postgres-password", "replication-password", "tls-server.key"]);
      const agentJson = agentPlan.stored.find((object) => object.labels["pgfort.file"] === "agent.json");
      assert.deepEqual(JSON.parse(agentJson?.data ?? "{}")["servers"], ["app-primary", "app-r1", "app-r2"]);
      assert.equal(JSON.parse(agentJson?.data ?? "{}")["target"], "s3://bucket/app");
      // The servers' secrets are the same objects for the agent (one per content).
      const serverIds = specOf(agentPlan.members[0])["TaskTemplate"]["ContainerSpec"]["Secrets"].map((secret: Spec) => secret["SecretName"]);
      for (const name of serverIds) assert.ok(container["Secrets"].some((secret: Spec) => secret["SecretName"] === name));
      for (const member of agentPlan.members) assert.match(member.plan.confD.get("25-archive.conf") ?? "", /archive_mode = on/);
    });

    it("pins the pooler beside the primary, its files as configs naming the primary's socket, no host bind", function () {
      const withPooler = parseConfig("cluster: app\nengine: swarm\nprimary: { node: n1 }\nreplicas: [ { name: r1, node: n2 } ]\npooler: {}\n");
      const poolerSecrets = new Map([...secrets, ["pooler-users.txt", "\"postgres\" \"SCRAM-SHA-256$...\""]]);
      const afterPromotion = planSwarmCluster(withPooler, "/state", { facts, secrets: poolerSecrets, primary: "r1", pooler: planSwarmPooler(withPooler, "/state", "r1", "n2") });
      assert.ok(afterPromotion.pooler);
      const spec = planPinnedService(afterPromotion.pooler, IMAGE, new Map(), "pooler.resources").spec as Spec;
      assert.equal(spec["Name"], "app-pooler");
      assert.deepEqual(spec["TaskTemplate"]["Placement"]["Constraints"], ["node.hostname == n2"]);
      const container = spec["TaskTemplate"]["ContainerSpec"];
      assert.equal(container["StopSignal"], "SIGINT");
      assert.deepEqual(container["Command"], ["pgfort-pooler"], "PgBouncer's program, not the server's entrypoint");
      assert.deepEqual(container["HealthCheck"]["Test"].slice(0, 2), ["CMD", "pg_isready"]);
      assert.ok(container["HealthCheck"]["Test"].includes("6432"), "PgBouncer's port, not the server's");
      assert.ok(container["Secrets"].some((secret: Spec) => secret["File"]["Name"] === "pooler-users.txt"));
      assert.deepEqual(container["Configs"].map((config: Spec) => config["File"]["Name"]).sort(), ["/etc/pgfort-pooler/hba.conf", "/etc/pgfort-pooler/pgbouncer.ini"]);
      const ini = afterPromotion.stored.find((object) => object.labels["pgfort.file"] === "pooler/pgbouncer.ini")?.data ?? "";
      assert.match(ini, /\* = host=\/var\/run\/pgfort-sockets\/app-r1 port=5432/);
      assert.ok(!JSON.stringify(spec).includes("/state/pooler"), "no bind mount of the host's directory");
    });

    it("runs a backup or drill by hand as a job service made from the agent's spec, beside it, a drill on a scratch volume of its own", function () {
      const agent = agentSpec();
      const backup = planHandOffJob(agent, "app", { args: ["backup", "--kind", "logical"] }, "abc123");
      assert.deepEqual([backup.name, backup.node, backup.network, backup.user, backup.init], ["app-backup-abc123", "n1", "app-net", "999:999", true]);
      assert.deepEqual(backup.args, ["job", "backup", "--kind", "logical"]);
      assert.deepEqual(backup.secrets, agent["TaskTemplate"]["ContainerSpec"]["Secrets"]);
      assert.deepEqual(backup.env, agent["TaskTemplate"]["ContainerSpec"]["Env"]);
      assert.deepEqual(backup.resources, agent["TaskTemplate"]["Resources"]);
      const targets = (job: ReturnType<typeof planHandOffJob>) => (job.mounts ?? []).map((mount) => `${String(mount["Source"] ?? "tmpfs")}:${String(mount["Target"])}`);
      assert.ok(targets(backup).includes("app-sockets:/var/run/pgfort-sockets"));
      assert.ok(!targets(backup).some((mount) => mount.startsWith("app-agent-scratch")), "never the agent's own scratch volume");
      const drill = planHandOffJob(agent, "app", { args: ["verify", "ID"], scratch: true }, "def456");
      assert.equal(drill.name, "app-verify-def456");
      assert.equal(drill.labels["pgfort.role"], "verify");
      assert.ok(targets(drill).includes("app-jobs-scratch:/var/lib/pgfort/scratch"));
      assert.equal(planJobService(drill).Mode?.ReplicatedJob?.TotalCompletions, 1);
      assert.equal(taskExitCode({ id: "", nodeId: "", state: "failed", desiredState: "shutdown", error: "task: non-zero exit (3)", containerId: undefined, timestamp: "" }), 3);
    });

    it("after a promotion, plans the agent on the new primary's node without the fenced former primary", function () {
      const promoted = planSwarmCluster(s3Config, "/state", { facts, secrets, primary: "r1", agent: agentFor("r1", "n2") });
      assert.equal(promoted.agent?.swarmNode, "n2");
      const agentJson = JSON.parse(promoted.stored.find((object) => object.labels["pgfort.file"] === "agent.json")?.data ?? "{}");
      assert.deepEqual([agentJson["primaryNode"], agentJson["servers"]], ["r1", ["app-r1", "app-r2"]]);
    });
  });

  it("names stored objects by their content (a change is a new object), within Swarm's 64 characters", function () {
    const long = "c".repeat(40);
    assert.equal(storedName("app", "secret", "a"), storedName("app", "secret", "a"));
    assert.notEqual(storedName("app", "secret", "a"), storedName("app", "secret", "b"));
    assert.notEqual(storedName("app", "secret", "a"), storedName("app", "config", "a"));
    assert.ok(storedName(long, "config", "x").length <= 64);
    const names = plan.stored.map((object) => object.name);
    assert.equal(new Set(names).size, names.length);
    const changed = planSwarmCluster(config, "/state", { facts, secrets: new Map([...secrets, ["postgres-password", "new"]]), primary: "primary" });
    assert.equal(changed.stored.filter((object) => !names.includes(object.name)).length, 1);
  });

  it("warns by key for what a Swarm service cannot set, and publishes no port bound to one address", function () {
    const warnings = planMemberService(primary as MemberPlan, IMAGE, new Map()).warnings.join("\n");
    for (const key of ["primary.resources.swap", "primary.resources.swappiness", "primary.resources.cpuShares", "primary.resources.blkioWeight", "no-new-privileges", "port 6543"]) {
      assert.ok(warnings.includes(key), `${key} in:\n${warnings}`);
    }
    assert.deepEqual(specOf(primary)["EndpointSpec"]["Ports"], []);
    const open = parseConfig("cluster: app\nengine: swarm\nprimary: { node: n1, port: 6543, bind: 0.0.0.0 }");
    const [member] = planSwarmCluster(open, "/state", { facts, secrets, primary: "primary" }).members;
    assert.deepEqual((planMemberService(member as MemberPlan, IMAGE, new Map()).spec as Spec)["EndpointSpec"]["Ports"], [
      { Protocol: "tcp", TargetPort: 5432, PublishedPort: 6543, PublishMode: "host" },
    ]);
  });

  it("runs the registry on the manager with its port published there", function () {
    const spec = planRegistryService("app", "pgfort/registry:1", "node-id-1", 5000) as Spec;
    assert.equal(spec["Name"], "app-registry");
    assert.deepEqual(spec["TaskTemplate"]["Placement"]["Constraints"], ["node.id == node-id-1"]);
    assert.deepEqual(spec["EndpointSpec"]["Ports"], [{ Protocol: "tcp", TargetPort: 5000, PublishedPort: 5000, PublishMode: "host" }]);
  });

  it("trusts a registry only where the engine's insecure-registries admit it", function () {
    assert.equal(registryTrusted("10.231.0.2:5000", { cidrs: ["127.0.0.0/8", "10.231.0.0/24"], names: [] }), true);
    assert.equal(registryTrusted("10.231.1.2:5000", { cidrs: ["127.0.0.0/8", "10.231.0.0/24"], names: [] }), false);
    assert.equal(registryTrusted("10.9.0.2:5000", { cidrs: [], names: ["10.9.0.2:5000"] }), true);
  });

  it("refuses a server pinned to a node that is not in the swarm or not ready, naming the nodes there are", function () {
    const nodes = [
      { id: "1", hostname: "n1", state: "ready", availability: "active", addr: "", manager: true },
      { id: "2", hostname: "n2", state: "down", availability: "active", addr: "", manager: true },
    ];
    assert.throws(() => checkPinnedNodes(plan, nodes), /r1 \(r1\) is down|swarm node n2 \(r1\) is down/);
    assert.throws(() => checkPinnedNodes(plan, [nodes[0]!]), (error: Error & { hint?: string }) => /n2, which is not in the swarm/.test(error.message) && /use one of n1/.test(error.hint ?? ""));
  });

  it("requires every server of a swarm config to be pinned to a node", function () {
    assert.throws(() => parseConfig("engine: swarm\nprimary: { port: 5432 }\nreplicas: [ { name: r1 } ]"), /primary\.node[\s\S]*replicas\.0\.node|name the primary's/);
  });
});
