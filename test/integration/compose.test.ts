// Compose out (issue 13): `pgfort compose` writes a project that Debian's docker-compose 1.29 and
// Compose v2 (Debian trixie's package; scripts/setup-compose.sh installs both) accept and run as a
// cluster equal to the one `pgfort up` makes: the primary's limits, hardening, mounts and
// healthcheck compared field by field with the engine's inspection of a `pgfort up` primary of the
// same config; replication over TLS, the dev override's published port, pgfort's backup and verify
// on it, and data kept across `down` and `up -d`. Cleanup is the hooks' (every object it makes
// carries the cluster's label).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, stat } from "node:fs/promises";
import type Dockerode from "dockerode";
import { connectTcp, docker, engineApi, psql } from "./postgres";
import { eventually } from "./waiting";
import { freePort, Workspace } from "./workspace";

interface Compose {
  name: string;
  command: string[];
}

const COMPOSES: Compose[] = [
  { name: "docker-compose 1.29 (Debian bookworm)", command: ["docker-compose"] },
  { name: "Compose v2 (Debian trixie's package)", command: ["docker", "compose"] },
];

function compose(tool: Compose, directory: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program = "", ...rest] = tool.command;
  return new Promise((resolve) =>
    execFile(program, [...rest, "-f", "compose.yaml", "-f", "compose.dev.yaml", ...args], { cwd: directory, timeout: 300_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

async function composeOk(tool: Compose, directory: string, ...args: string[]): Promise<string> {
  const result = await compose(tool, directory, ...args);
  assert.equal(result.code, 0, `${tool.command.join(" ")} ${args.join(" ")} failed:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

async function waitHealthy(names: readonly string[]): Promise<void> {
  await eventually(180_000, async () => {
    for (const name of names) {
      const info = await engineApi.getContainer(name).inspect();
      assert.equal(info.State.Health?.Status, "healthy", `${name} is ${info.State.Health?.Status ?? info.State.Status}`);
    }
  }, 1000);
}

/** What the acceptance compares: limits, hardening, mounts and healthcheck, as the engine reports them. */
function comparable(info: Dockerode.ContainerInspectInfo): Record<string, unknown> {
  const host = info.HostConfig as Record<string, unknown>;
  const pick = (keys: string[]) => Object.fromEntries(keys.map((key) => [key, host[key] ?? null]));
  return {
    limits: pick(["Memory", "MemorySwap", "MemorySwappiness", "NanoCpus", "CpuShares", "PidsLimit", "ShmSize", "Ulimits"]),
    hardening: {
      ...pick(["CapDrop", "CapAdd", "SecurityOpt", "ReadonlyRootfs", "Tmpfs", "RestartPolicy", "LogConfig", "Privileged", "Init"]),
      User: info.Config.User,
      StopSignal: (info.Config as { StopSignal?: string }).StopSignal ?? null,
    },
    // The secrets are a volume under `up` and one bind mount per file under Compose: compared by
    // the files the server sees there (below). conf.d is bound from another host directory: its
    // target and mode are compared here, its content by the settings in force.
    mounts: info.Mounts.filter((mount) => !mount.Destination.startsWith("/run/secrets"))
      .map((mount) => ({ type: mount.Type, destination: mount.Destination, rw: mount.RW, volume: mount.Type === "volume" ? mount.Name : "(bind)" }))
      .sort((a, b) => a.destination.localeCompare(b.destination)),
    healthcheck: info.Config.Healthcheck,
    image: info.Config.Image,
  };
}

describe("pgfort compose", function () {
  for (const tool of COMPOSES) {
    it(`${tool.name}: the exported project runs the cluster pgfort up makes, and pgfort's backup and verify work on it`, async function () {
      const port = await freePort();
      const poolerPort = await freePort();
      const workspace = await Workspace.create(
        (cluster) =>
          `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 256m, swap: 64m, swappiness: 10, cpus: 1, cpuShares: 512, pids: 300, shm: 96m, nofile: 8192 }\n` +
          `replicas: [ { name: r1 } ]\npooler: { port: ${poolerPort} }\nbackups: { target: "file://BACKUPS" }\n`,
      );
      await workspace.writeConfig((await workspace.read("pgfort.yaml")).replace("BACKUPS", workspace.path("backups")));
      const primary = `${workspace.cluster}-primary`;
      const replica = `${workspace.cluster}-r1`;
      // The dev override logs statements and connections (command line), and a Compose secret's key is
      // used from its private copy (command line): everything else comes from the same conf.d.
      const settings =
        "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE source = 'configuration file' " +
        "AND name NOT IN ('log_connections', 'log_disconnections', 'ssl_key_file')";

      // The reference: the same config brought up by pgfort itself, inspected, then taken down.
      await workspace.ok("up");
      const reference = comparable(await engineApi.getContainer(primary).inspect());
      const referenceSecrets = await listSecrets(primary);
      const referenceSettings = await psql(primary, settings);
      await workspace.ok("down", "--volumes", "--yes");

      const project = workspace.path("project");
      await workspace.ok("compose", "--out", project);
      assert.equal((await stat(workspace.path("project", "secrets"))).mode & 0o777, 0o700, "the secrets directory is the operator's alone");
      await composeOk(tool, project, "config", "-q");
      await composeOk(tool, project, "up", "-d");
      const services = [primary, replica, `${workspace.cluster}-pooler`, `${workspace.cluster}-agent`];
      await waitHealthy(services);

      // Every volume is one of the cluster's, by name: no anonymous volume that `compose down` would leave behind.
      for (const name of services) {
        const volumes = (await engineApi.getContainer(name).inspect()).Mounts.filter((mount) => mount.Type === "volume");
        for (const volume of volumes) assert.ok(volume.Name?.startsWith(`${workspace.cluster}-`), `${name} mounts the anonymous volume ${volume.Name ?? ""} at ${volume.Destination}`);
      }
      const exported = comparable(await engineApi.getContainer(primary).inspect());
      assert.deepEqual(exported.limits, reference.limits, "limits");
      assert.deepEqual(exported.hardening, reference.hardening, "hardening");
      assert.deepEqual(exported.mounts, reference.mounts, "mounts");
      assert.deepEqual(exported.healthcheck, reference.healthcheck, "healthcheck");
      assert.deepEqual(exported.image, reference.image, "image");
      assert.deepEqual(await listSecrets(primary), referenceSecrets, "the files in /run/secrets");
      assert.equal(await psql(primary, settings), referenceSettings, "the settings conf.d gives the server");
      assert.equal(
        await psql(primary, "SELECT string_agg(name || '=' || setting || ' (' || source || ')', ',' ORDER BY name) FROM pg_settings WHERE name IN ('log_statement', 'ssl_key_file')"),
        "log_statement=all (command line),ssl_key_file=/var/run/postgresql/pgfort-tls/tls-server.key (command line)",
      );

      // Replication over TLS from the replica's first start (the primary made the role, the replica its slot).
      await psql(primary, "CREATE TABLE kept AS SELECT g FROM generate_series(1, 5000) g");
      await eventually(60_000, async () => assert.equal(await psql(replica, "SELECT count(*) FROM kept"), "5000"));
      assert.equal(await psql(primary, "SELECT string_agg(r.application_name || ':' || s.ssl || ':' || (r.sent_lsn IS NOT NULL), ',') FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"), "r1:true:true");
      assert.equal(await psql(primary, "SELECT string_agg(slot_name || ':' || active, ',') FROM pg_replication_slots"), "r1:true");

      // The dev override publishes the port: TLS verified against the cluster's CA.
      const password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();
      const client = await connectTcp(port, "postgres", password, "postgres", workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt"));
      try {
        assert.equal((await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0]?.ssl, true);
      } finally {
        await client.end();
      }

      // pgfort's own commands find the containers by name and label.
      await workspace.ok("backup", "run", "--kind", "logical");
      const verify = await workspace.ok("backup", "verify", "--latest");
      assert.match(verify.stdout, /row counts postgres: 1 tables, 5000 rows match/);
      const status = await workspace.ok("status");
      assert.match(status.stdout, new RegExp(`${replica} +replica +running +healthy`));
      // What pgfort cannot do under Compose is refused, not half done: Compose would start a fenced primary again.
      const promote = await workspace.run("replica", "promote", "r1", "--yes");
      assert.notEqual(promote.code, 0);
      assert.match(promote.stderr, /belongs to the Compose project/);
      assert.equal(await psql(replica, "SELECT pg_is_in_recovery()"), "t");
      assert.equal((await engineApi.getContainer(primary).inspect()).State.Running, true);
      for (const command of [["tls", "rotate"], ["up"], ["replica", "add", "r2"], ["replica", "remove", "r1", "--yes"]]) {
        const refused = await workspace.run(...command);
        assert.notEqual(refused.code, 0, command.join(" "));
        assert.match(refused.stderr, /belongs to the Compose project .*: pgfort does not/, command.join(" "));
      }
      assert.equal((await engineApi.getContainer(replica).inspect()).State.Running, true);

      // down and up -d keep the data: the volumes are named, not the project's.
      await composeOk(tool, project, "down");
      await assert.rejects(engineApi.getContainer(primary).inspect(), /no such container/i);
      await composeOk(tool, project, "up", "-d");
      await waitHealthy(services);
      assert.equal(await psql(primary, "SELECT count(*) FROM kept"), "5000");
      await eventually(60_000, async () => assert.equal(await psql(replica, "SELECT count(*) FROM kept"), "5000"));
      await access(workspace.path("project", "compose.dev.yaml"));
    });
  }
});

async function listSecrets(container: string): Promise<string> {
  const result = await (await docker()).exec(container, ["ls", "-1", "/run/secrets"]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout.trim();
}
