import assert from "node:assert/strict";
import { explainLimitWarnings, planResourceLimits } from "../../../src/cluster/limits";
import { diffSettings, effectiveSettings } from "../../../src/cluster/config-apply";
import { planNode, primarySpec, type HostFacts } from "../../../src/cluster/plan";
import { mapInspect } from "../../../src/cluster/status";
import { parseConfig } from "../../../src/config/load";
import { diffConfFiles, formatValue } from "../../../src/config/render-conf-d";
import type { ContainerInspect } from "../../../src/docker/client";

const MB = 1024 ** 2;
const facts: HostFacts = {
  cpus: 2,
  memoryBytes: 24 * 1024 * MB,
  imageId: "sha256:aaa",
  defaultConfD: new Map([
    ["00-connections.conf", "max_connections = 100\n"],
    ["10-memory.conf", "shared_buffers = 256MB\n"],
    ["90-overrides.conf", "# none\n"],
  ]),
};

function plan(yaml: string, hostFacts = facts) {
  const config = parseConfig(yaml);
  return planNode(config, "/state/app", hostFacts, primarySpec(config));
}

describe("planResourceLimits", function () {
  it("maps every resource key to HostConfig, with MemorySwap = Memory when swap is 0", function () {
    const config = parseConfig("primary: { resources: { memory: 512m, swap: 0, swappiness: 0, cpus: 1.5, cpuShares: 512, blkioWeight: 300, pids: 256, shm: 128m, nofile: 4096 } }");
    assert.deepEqual(planResourceLimits(config.primary.resources), {
      Memory: 512 * MB,
      MemorySwap: 512 * MB,
      MemorySwappiness: 0,
      NanoCpus: 1_500_000_000,
      CpuShares: 512,
      BlkioWeight: 300,
      PidsLimit: 256,
      ShmSize: 128 * MB,
      Ulimits: [{ Name: "nofile", Soft: 4096, Hard: 4096 }],
    });
  });

  it("adds swap on top of memory, and keeps defaults for keys a partial block omits", function () {
    const config = parseConfig("primary: { resources: { memory: 1g, swap: 512m } }");
    const limits = planResourceLimits(config.primary.resources);
    assert.equal(limits.MemorySwap, 1536 * MB);
    assert.equal(limits.ShmSize, 256 * MB);
    assert.equal(limits.MemorySwappiness, 0);
  });

  it("names the config key behind Docker's warnings", function () {
    const lines = explainLimitWarnings(
      ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.", "Something else"],
      "primary.resources",
    );
    assert.match(lines[0] ?? "", /^primary\.resources\.blkioWeight is not honoured by this host: Your kernel/);
    assert.equal(lines[1], "Docker: Something else");
  });
});

describe("planNode", function () {
  it("names objects after the cluster, labels them, and hardens the container", function () {
    const node = plan("cluster: app");
    assert.equal(node.name, "app-primary");
    assert.deepEqual(node.volumes, { data: "app-primary-data", wal: "app-primary-wal" });
    assert.equal(node.create.Labels?.["pgfort.cluster"], "app");
    assert.equal(node.create.Labels?.["pgfort.role"], "primary");
    const host = node.create.HostConfig ?? {};
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.SecurityOpt, ["no-new-privileges:true"]);
    assert.deepEqual(host.PortBindings?.["5432/tcp"], [{ HostIp: "127.0.0.1", HostPort: "5432" }]);
    assert.ok(host.Binds?.includes("/state/app/primary/conf.d:/etc/postgresql/conf.d:ro"));
    // Secrets come from the engine-filled volume, read-only; never a bind of the host's 0600 files.
    assert.deepEqual(host.Binds, ["/state/app/primary/conf.d:/etc/postgresql/conf.d:ro"]);
    assert.deepEqual(
      host.Mounts?.find((mount) => mount.Target === "/run/secrets"),
      { Type: "volume", Source: "app-secrets", Target: "/run/secrets", ReadOnly: true },
    );
    // The cluster's socket volume, where the entrypoint puts this server's second socket for the agent.
    assert.deepEqual(host.Mounts?.find((mount) => mount.Target === "/var/run/pgfort-sockets"), { Type: "volume", Source: "app-sockets", Target: "/var/run/pgfort-sockets" });
    assert.ok(plan("cluster: app").create.Env?.includes("PGFORT_SOCKETS_DIR=/var/run/pgfort-sockets"));
  });

  it("requires TLS: ssl on with the secrets volume's files, and the CA for hostssl and replicas", function () {
    const node = plan("cluster: app");
    assert.equal(
      node.confD.get("50-ssl.conf")?.split("\n").filter((line) => line && !line.startsWith("#")).join("|"),
      "ssl = on|ssl_cert_file = '/run/secrets/tls-server.crt'|ssl_key_file = '/run/secrets/tls-server.key'|ssl_min_protocol_version = 'TLSv1.2'",
    );
    assert.ok(node.create.Env?.includes("PGFORT_TLS_CA_FILE=/run/secrets/tls-ca.crt"));
  });

  it("passes secrets as *_FILE only", function () {
    const env = plan("cluster: app").create.Env ?? [];
    assert.ok(env.includes("POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password"));
    assert.ok(!env.some((entry) => entry.startsWith("POSTGRES_PASSWORD=")));
  });

  it("renders memory from the limit, or from the host without one, and puts settings last", function () {
    const limited = plan("primary: { resources: { memory: 512m }, settings: { work_mem: 8MB, jit: false } }");
    assert.match(limited.confD.get("10-memory.conf") ?? "", /^shared_buffers = '128MB'$/m);
    assert.equal(limited.confD.get("90-overrides.conf")?.split("\n").filter((line) => !line.startsWith("#")).join("|"), "work_mem = '8MB'|jit = off|");
    assert.equal(limited.confD.get("00-connections.conf"), "max_connections = 100\n");
    const settings = effectiveSettings(limited.confD);
    assert.equal(settings.get("work_mem"), "8MB");
  });

  it("changes its spec hash when the spec or the image changes, and only then", function () {
    const base = plan("primary: { resources: { memory: 512m } }");
    assert.equal(plan("primary: { resources: { memory: 512m } }").specHash, base.specHash);
    assert.notEqual(plan("primary: { resources: { memory: 1g } }").specHash, base.specHash);
    assert.notEqual(plan("primary: { resources: { memory: 512m } }", { ...facts, imageId: "sha256:bbb" }).specHash, base.specHash);
    // settings are applied by reload, not by recreating the container
    assert.equal(plan("primary: { resources: { memory: 512m }, settings: { work_mem: 8MB } }").specHash, base.specHash);
  });
});

describe("conf.d diffs", function () {
  it("lists changed files and settings, last file wins", function () {
    const current = new Map([["10-memory.conf", "work_mem = '4MB'\n"], ["90-overrides.conf", "# none\n"]]);
    const next = new Map([["10-memory.conf", "work_mem = '4MB'\n"], ["90-overrides.conf", "work_mem = '8MB'\n"], ["95-new.conf", "x = 1\n"]]);
    assert.deepEqual(diffConfFiles(current, next), [
      { file: "90-overrides.conf", change: "changed" },
      { file: "95-new.conf", change: "added" },
    ]);
    assert.deepEqual(diffSettings(current, next), [
      { name: "work_mem", from: "4MB", to: "8MB" },
      { name: "x", from: undefined, to: "1" },
    ]);
  });

  it("quotes values the way postgresql.conf reads them", function () {
    assert.equal(formatValue("it's"), "'it''s'");
    assert.equal(formatValue(100), "100");
    assert.equal(formatValue(true), "on");
  });
});

describe("mapInspect", function () {
  it("reads role, health, uptime and limits from docker inspect", function () {
    const info = {
      Name: "/app-primary",
      Config: { Labels: { "pgfort.node": "primary", "pgfort.role": "primary" } },
      State: { Status: "running", Running: true, StartedAt: "2026-01-01T00:00:00Z", Health: { Status: "healthy" } },
      HostConfig: { Memory: 512 * MB, MemorySwap: 512 * MB, NanoCpus: 1e9, PidsLimit: 256, ShmSize: 128 * MB },
      NetworkSettings: { Ports: { "5432/tcp": [{ HostIp: "127.0.0.1", HostPort: "5432" }] } },
    } as unknown as ContainerInspect;
    const status = mapInspect(info, new Date("2026-01-01T01:00:00Z"));
    assert.equal(status.uptimeSeconds, 3600);
    assert.deepEqual(status.limits, { memoryBytes: 512 * MB, swapBytes: 0, cpus: 1, pids: 256, shmBytes: 128 * MB });
    assert.equal(status.port, "127.0.0.1:5432");
    assert.equal(status.health, "healthy");
  });
});
