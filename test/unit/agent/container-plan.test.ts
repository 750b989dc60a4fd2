import assert from "node:assert/strict";
import { agentConfigDigest, planAgentContainer, type AgentContainerInputs } from "../../../src/cluster/agent-container";
import { HARDENING } from "../../../src/cluster/plan";
import { parseConfig } from "../../../src/config/load";
import { THROWAWAY_ROLES } from "../../../src/docker/labels";
import type { ContainerInspect } from "../../../src/docker/client";
import { mapServiceInspect } from "../../../src/cluster/status";

const MB = 1024 ** 2;
const inputs: AgentContainerInputs = { imageId: "sha256:agent", targetDirectory: "/srv/app/backups", configDigest: "0123456789abcdef", env: [] };

function plan(yaml: string, overrides: Partial<AgentContainerInputs> = {}) {
  return planAgentContainer(parseConfig(yaml), { ...inputs, ...overrides });
}

describe("planAgentContainer", function () {
  it("joins a non-root operator's target group, and no other group otherwise", function () {
    assert.deepEqual(plan("cluster: app", { targetDirectory: "/srv/backups", targetGroup: 1001 }).create.HostConfig?.GroupAdd, ["1001"]);
    assert.equal(plan("cluster: app", { targetDirectory: "/srv/backups" }).create.HostConfig?.GroupAdd, undefined);
  });

  it("names, labels and runs the agent image as uid 999 with CMD agent, on the cluster network", function () {
    const { name, scratchVolume, create } = plan("cluster: app\nimage: { tag: pgfort/postgres:15 }");
    assert.equal(name, "app-agent");
    assert.equal(scratchVolume, "app-agent-scratch");
    assert.equal(create.Image, "pgfort/postgres:15-agent");
    assert.deepEqual(create.Cmd, ["agent"]);
    assert.equal(create.User, "999:999");
    assert.equal(create.Labels?.["pgfort.cluster"], "app");
    assert.equal(create.Labels?.["pgfort.role"], "agent");
    assert.equal(create.Labels?.["pgfort.node"], "agent");
    assert.equal(create.HostConfig?.NetworkMode, "app-net");
    assert.deepEqual(create.NetworkingConfig?.EndpointsConfig?.["app-net"]?.Aliases, ["agent"]);
  });

  it("is never a role the reaper removes", function () {
    assert.ok(!(THROWAWAY_ROLES as readonly string[]).includes("agent"));
  });

  it("is hardened like every node, and always restarted by Docker (a docker kill is back at the next engine start)", function () {
    const host = plan("cluster: app").create.HostConfig ?? {};
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.deepEqual(host.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.RestartPolicy, { Name: "always", MaximumRetryCount: 0 });
    assert.equal(host.Init, true, "an init reaps the drills' detached postmasters");
    assert.deepEqual(host.LogConfig, HARDENING.LogConfig);
    assert.match(host.Tmpfs?.["/tmp"] ?? "", /^rw,/);
  });

  it("mounts the secrets read-only, the servers' socket volume, the scratch volume and the file:// target, and never the Docker socket", function () {
    const { create } = plan("cluster: app");
    assert.deepEqual(create.HostConfig?.Mounts, [
      { Type: "volume", Source: "app-secrets", Target: "/run/secrets", ReadOnly: true },
      { Type: "volume", Source: "app-sockets", Target: "/var/run/pgfort-sockets" },
      { Type: "volume", Source: "app-agent-scratch", Target: "/var/lib/pgfort/scratch" },
      { Type: "bind", Source: "/srv/app/backups", Target: "/var/lib/pgfort/target" },
    ]);
    assert.equal(create.HostConfig?.Binds, undefined);
    assert.doesNotMatch(JSON.stringify(create), /docker\.sock/);
    const s3 = plan("cluster: app\nbackups: { target: s3://bucket/p }", { targetDirectory: undefined }).create;
    assert.deepEqual(s3.HostConfig?.Mounts?.map((mount) => mount.Target), ["/run/secrets", "/var/run/pgfort-sockets", "/var/lib/pgfort/scratch"]);
    // The parallel engine's source: the primary's data and WAL volumes, read-only, where the server has them.
    const parallel = plan("cluster: app", { sourceVolumes: { data: "app-primary-data", wal: "app-primary-wal" } }).create;
    assert.deepEqual(parallel.HostConfig?.Mounts?.slice(-2), [
      { Type: "volume", Source: "app-primary-data", Target: "/var/lib/postgresql/data", ReadOnly: true },
      { Type: "volume", Source: "app-primary-wal", Target: "/var/lib/postgresql/wal", ReadOnly: true },
    ]);
  });

  it("publishes 9187 in the container on agent.bind:agent.port", function () {
    assert.deepEqual(plan("cluster: app").create.HostConfig?.PortBindings, { "9187/tcp": [{ HostIp: "127.0.0.1", HostPort: "9187" }] });
    assert.deepEqual(plan("cluster: app\nagent: { port: 19000, bind: 0.0.0.0 }").create.HostConfig?.PortBindings, {
      "9187/tcp": [{ HostIp: "0.0.0.0", HostPort: "19000" }],
    });
    assert.deepEqual(plan("cluster: app").create.ExposedPorts, { "9187/tcp": {} });
  });

  it("takes agent.resources, else backups.resources", function () {
    const defaulted = plan("cluster: app\nbackups: { resources: { memory: 300m, cpus: 0.5 } }").create.HostConfig ?? {};
    assert.equal(defaulted.Memory, 300 * MB);
    assert.equal(defaulted.NanoCpus, 500_000_000);
    const own = plan("cluster: app\nbackups: { resources: { memory: 300m } }\nagent: { resources: { memory: 200m, pids: 64 } }").create.HostConfig ?? {};
    assert.equal(own.Memory, 200 * MB);
    assert.equal(own.PidsLimit, 64);
  });

  it("puts no secret in Env or Cmd, and checks its health by asking the process itself", function () {
    const { create } = plan("cluster: app\nbackups: { target: s3://bucket/p }", { env: ["AWS_SHARED_CREDENTIALS_FILE=/run/secrets/aws-credentials", "AWS_REGION=eu-west-1"] });
    assert.deepEqual(create.Env, ["PGSSLMODE=verify-full", "PGSSLROOTCERT=/run/secrets/tls-ca.crt", "AWS_SHARED_CREDENTIALS_FILE=/run/secrets/aws-credentials", "AWS_REGION=eu-west-1"]);
    assert.deepEqual(create.Healthcheck?.Test, ["CMD", "/usr/local/bin/node", "/opt/pgfort/dist/src/agent/health-probe.js"]);
  });

  it("hashes its spec: unchanged inputs give the same hash, a changed image, config or limit another", function () {
    const base = plan("cluster: app");
    assert.equal(plan("cluster: app").specHash, base.specHash);
    assert.equal(base.create.Labels?.["pgfort.spec-hash"], base.specHash);
    assert.notEqual(plan("cluster: app", { imageId: "sha256:rebuilt" }).specHash, base.specHash);
    assert.notEqual(plan("cluster: app", { configDigest: "fedcba9876543210" }).specHash, base.specHash);
    assert.notEqual(plan("cluster: app\nbackups: { resources: { memory: 1g } }").specHash, base.specHash);
    assert.notEqual(plan("cluster: app\nagent: { port: 9188 }").specHash, base.specHash);
  });
});

describe("agentConfigDigest", function () {
  it("changes with the config text, the target, the credentials and the set of servers (not their order)", function () {
    const parts = { configText: "{}", target: "file:///var/lib/pgfort/target", credentials: undefined, servers: ["app-primary", "app-r1"] };
    const base = agentConfigDigest(parts);
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(agentConfigDigest({ ...parts }), base);
    assert.equal(agentConfigDigest({ ...parts, servers: ["app-r1", "app-primary"] }), base);
    assert.notEqual(agentConfigDigest({ ...parts, configText: "cluster: b" }), base);
    assert.notEqual(agentConfigDigest({ ...parts, target: "s3://b/p" }), base);
    assert.notEqual(agentConfigDigest({ ...parts, credentials: "[default]" }), base);
    assert.notEqual(agentConfigDigest({ ...parts, servers: ["app-primary"] }), base);
  });
});

describe("the agent in pgfort status", function () {
  it("maps docker inspect to state, health, restarts and the published port", function () {
    const info = {
      Name: "/app-agent",
      State: { Status: "running", Health: { Status: "healthy" } },
      RestartCount: 2,
      NetworkSettings: { Ports: { "9187/tcp": [{ HostIp: "127.0.0.1", HostPort: "19187" }] } },
    } as unknown as ContainerInspect; // only the fields the mapper reads
    assert.deepEqual(mapServiceInspect(info), { container: "app-agent", state: "running", health: "healthy", restarts: 2, port: "127.0.0.1:19187" });
  });
});
