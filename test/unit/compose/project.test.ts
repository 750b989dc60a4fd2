import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig, parseConfig } from "../../../src/config/load";
import { exportCompose } from "../../../src/compose/export";
import { planNode, primarySpec } from "../../../src/cluster/plan";
import { COMPOSE_FILES, DEV_SERVER_COMMAND, escapeInterpolation, planComposeProject } from "../../../src/compose/project";
import { composeDuration, planLimits, planPorts, planService } from "../../../src/compose/service";

const facts = { cpus: 2, memoryBytes: 4 * 1024 ** 3, imageId: "sha256:abc", defaultConfD: new Map([["00-defaults.conf", "port = 5432\n"]]) };
const imageHealthcheck = { Test: ["CMD-SHELL", 'pg_isready --port="${PGPORT:-5432}"'], Interval: 5e9, Timeout: 5e9, Retries: 5, StartPeriod: 60e9 };
const inputs = {
  facts,
  imageHealthcheck,
  secrets: ["postgres-password", "replication-password", "tls-ca.crt", "tls-server.crt", "tls-server.key"],
  agent: { targetDirectory: "/srv/backups", configDigest: "d1", env: [] },
};

type Service = Record<string, unknown>;

describe("pgfort compose's project", function () {
  const config = parseConfig(
    "cluster: app\nprimary: { port: 6543, resources: { memory: 256m, swap: 64m, swappiness: 10, cpus: 1.5, cpuShares: 512, pids: 300, shm: 96m, nofile: 8192, blkioWeight: 300 } }\n" +
      "replicas: [ { name: r1 } ]\npooler: { port: 6432 }\nagent: { port: 9999 }",
  );
  const project = planComposeProject(config, "/state", inputs);
  const services = project.base["services"] as Record<string, Service>;

  it("has the primary, its replica, the pooler and the agent, each the container pgfort up creates", function () {
    assert.deepEqual(Object.keys(services), ["primary", "r1", "pooler", "agent"]);
    const primary = services["primary"] ?? {};
    const create = planNode(config, "/state", facts, primarySpec(config)).create;
    assert.equal(primary["container_name"], "app-primary");
    assert.equal(primary["image"], create.Image);
    assert.deepEqual(primary["cap_drop"], ["ALL"]);
    assert.deepEqual(primary["security_opt"], ["no-new-privileges:true"]);
    assert.equal(primary["read_only"], true);
    assert.deepEqual(primary["tmpfs"], ["/var/run/postgresql:rw,nosuid,nodev,noexec,size=16m", "/tmp:rw,nosuid,nodev,size=64m"]);
    assert.equal(primary["restart"], "unless-stopped");
    assert.deepEqual(primary["logging"], { driver: "json-file", options: { "max-size": "10m", "max-file": "5" } });
    assert.equal(primary["stop_grace_period"], "60s");
    assert.deepEqual(primary["labels"], { "pgfort.cluster": "app", "pgfort.role": "primary", "pgfort.node": "primary" }, "no spec hash: pgfort up did not make it");
    assert.equal(services["agent"]?.["restart"], "always");
    // No anonymous volume for the image's VOLUME where nothing is mounted (docker compose down keeps those).
    for (const name of ["pooler", "agent"]) assert.ok((services[name]?.["tmpfs"] as string[]).includes("/var/lib/postgresql/data:rw,nosuid,nodev,noexec,size=1m"), name);
    assert.ok(!(primary["tmpfs"] as string[]).some((entry) => entry.startsWith("/var/lib/postgresql/data")));
    assert.equal(services["agent"]?.["init"], true);
  });

  it("writes every limit in Compose's keys", function () {
    const primary = services["primary"] ?? {};
    assert.equal(primary["mem_limit"], 256 * 1024 ** 2);
    assert.equal(primary["memswap_limit"], 320 * 1024 ** 2);
    assert.equal(primary["mem_swappiness"], 10);
    assert.equal(primary["cpus"], 1.5);
    assert.equal(primary["cpu_shares"], 512);
    assert.equal(primary["pids_limit"], 300);
    assert.equal(primary["shm_size"], 96 * 1024 ** 2);
    assert.deepEqual(primary["ulimits"], { nofile: { soft: 8192, hard: 8192 } });
    assert.deepEqual(primary["blkio_config"], { weight: 300 });
    assert.deepEqual(planLimits({}), {}, "no limit, no key");
  });

  it("mounts named volumes by their keys, conf.d from the project, and the secrets as Compose secrets", function () {
    const primary = services["primary"] ?? {};
    assert.deepEqual(primary["volumes"], [
      { type: "volume", source: "primary-data", target: "/var/lib/postgresql/data" },
      { type: "volume", source: "primary-wal", target: "/var/lib/postgresql/wal" },
      { type: "volume", source: "sockets", target: "/var/run/pgfort-sockets" },
      { type: "bind", source: "./primary/conf.d", target: "/etc/postgresql/conf.d", read_only: true },
    ]);
    assert.deepEqual(primary["secrets"], inputs.secrets);
    assert.deepEqual(project.base["secrets"], Object.fromEntries(inputs.secrets.map((name) => [name, { file: `./secrets/${name}` }])));
    const volumes = project.base["volumes"] as Record<string, { name: string; labels: Record<string, string> }>;
    assert.equal(volumes["primary-data"]?.name, "app-primary-data");
    assert.equal(volumes["r1-data"]?.labels["pgfort.upstream"], "primary");
    assert.equal(volumes["agent-scratch"]?.name, "app-agent-scratch");
    assert.deepEqual(project.base["networks"], { net: { name: "app-net", labels: { "pgfort.cluster": "app", "pgfort.role": "primary", "pgfort.node": "net" } } });
    assert.ok(project.files.has("primary/conf.d/00-defaults.conf"));
    assert.ok(project.files.has("r1/conf.d/50-ssl.conf"));
    assert.ok(project.files.has("pooler/pgbouncer.ini"));
    assert.deepEqual((services["agent"]?.["volumes"] as Service[]).at(-1), { type: "bind", source: "/srv/backups", target: "/var/lib/pgfort/target" });
  });

  it("starts without pgfort: the primary makes the replication role, the replica its slot, after the primary is healthy", function () {
    assert.ok((services["primary"]?.["environment"] as string[]).includes("PGFORT_REPLICATION_PASSWORD_FILE=/run/secrets/replication-password"));
    assert.ok((services["r1"]?.["environment"] as string[]).includes("PGFORT_CREATE_SLOT=1"));
    for (const name of ["r1", "pooler", "agent"]) assert.deepEqual(services[name]?.["depends_on"], { primary: { condition: "service_healthy" } });
    assert.equal(services["primary"]?.["depends_on"], undefined);
  });

  it("says the image's healthcheck with $ escaped from Compose's interpolation", function () {
    assert.deepEqual(services["primary"]?.["healthcheck"], { test: ["CMD-SHELL", 'pg_isready --port="$${PGPORT:-5432}"'], interval: "5s", timeout: "5s", retries: 5, start_period: "60s" });
    assert.equal(escapeInterpolation("a$b$$"), "a$$b$$$$");
    assert.equal(composeDuration(1_500_000_000), "1500ms");
    assert.equal(composeDuration(undefined), undefined);
  });

  it("publishes nothing in the base file; the dev override publishes the ports and logs statements", function () {
    for (const service of Object.values(services)) assert.equal(service["ports"], undefined);
    const dev = (project.dev["services"] ?? {}) as Record<string, Service>;
    assert.deepEqual(dev["primary"], { ports: ["127.0.0.1:6543:5432/tcp"], command: DEV_SERVER_COMMAND });
    assert.deepEqual(dev["r1"], { command: DEV_SERVER_COMMAND });
    assert.deepEqual(dev["pooler"], { ports: ["127.0.0.1:6432:6432/tcp"] });
    assert.deepEqual(dev["agent"], { ports: ["127.0.0.1:9999:9187/tcp"] });
    assert.deepEqual(planPorts({ HostConfig: {} }), []);
    assert.equal(COMPOSE_FILES.dev, "compose.dev.yaml");
  });

  it("names an S3 endpoint on the host's loopback through host-gateway only when asked", function () {
    const s3 = planComposeProject(config, "/state", { ...inputs, agentExtraHosts: ["host.docker.internal:host-gateway"] });
    assert.deepEqual((s3.base["services"] as Record<string, Service>)["agent"]?.["extra_hosts"], ["host.docker.internal:host-gateway"]);
    assert.equal(services["agent"]?.["extra_hosts"], undefined);
    assert.equal(planService({ name: "x", HostConfig: { NetworkMode: "n" } }, { volumeKey: (v) => v, bindSource: () => undefined, networkKey: "net", secrets: [] })["secrets"], undefined);
  });
});

describe("pgfort compose's output directory", function () {
  it("never writes into a directory whose compose.yaml pgfort did not write", async function () {
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-compose-"));
    try {
      await writeFile(path.join(directory, "pgfort.yaml"), "cluster: app\n");
      await writeFile(path.join(directory, "compose.yaml"), "services: { web: { image: nginx } }\n");
      const loaded = await loadConfig(path.join(directory, "pgfort.yaml"));
      // The refusal comes before any engine call: this engine would throw on one.
      const engine = new Proxy({}, { get: () => () => Promise.reject(new Error("the engine was asked")) });
      await assert.rejects(exportCompose(engine as never, loaded, directory), /compose\.yaml exists and was not written by pgfort compose/);
      assert.equal(await readFile(path.join(directory, "compose.yaml"), "utf8"), "services: { web: { image: nginx } }\n");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
