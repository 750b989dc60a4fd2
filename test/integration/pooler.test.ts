// The pooler (issue 13): PgBouncer in <cluster>-pooler on the socket volume. Checked as clients
// see it: 500 pgbench clients through it against a server of max_connections 50, with no error,
// the server's own count of its connections, and a promotion under that load that the clients
// wait through (pgbench's failures, and its invariant on the new primary).
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { IMAGE, connectTcp, psql } from "./postgres";
import { PGBENCH_SUMS_QUERY, pgbenchSumsAgree } from "./pgbench";
import { freePort, Workspace } from "./workspace";

interface Run {
  code: number;
  output: string;
}

/** pgbench in a throwaway container of the image on the cluster's network, through the pooler with verify-full TLS. */
function pgbenchThroughPooler(workspace: Workspace, password: string, args: string[]): Promise<Run> {
  const caFile = workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt");
  const docker = [
    "run", "--rm", "--label", `pgfort.cluster=${workspace.cluster}`, "--network", `${workspace.cluster}-net`, "--ulimit", "nofile=4096:4096",
    "-v", `${caFile}:/ca.crt:ro`, "-e", `PGPASSWORD=${password}`, "-e", "PGSSLMODE=verify-full", "-e", "PGSSLROOTCERT=/ca.crt",
    "--entrypoint", "pgbench", IMAGE, "-h", `${workspace.cluster}-pooler`, "-p", "6432", "-U", "postgres", ...args, "postgres",
  ];
  return new Promise((resolve) => {
    const child = spawn("docker", docker);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

function adminConsole(workspace: Workspace, command: string): Promise<string> {
  const pooler = `${workspace.cluster}-pooler`;
  return new Promise((resolve, reject) =>
    execFile("docker", ["exec", pooler, "psql", "-X", "-A", "-t", "-F", ",", "-h", `/var/run/pgfort-sockets/${pooler}`, "-p", "6432", "-U", "postgres", "pgbouncer", "-c", command], (error, stdout, stderr) =>
      error ? reject(new Error(stderr)) : resolve(stdout.trim()),
    ),
  );
}

const failed = (output: string): number => Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? NaN);
/** Clients pgbench gave up on (a lost connection aborts a client; it is not counted as a failed transaction). */
const aborted = (output: string): number => (output.match(/aborted in command/g) ?? []).length;
const processed = (output: string): number => Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? NaN);

describe("the pooler", function () {
  it("serves 500 clients against max_connections 50 without an error, and holds them through a promotion", async function () {
    const primaryPort = await freePort();
    const poolerPort = await freePort();
    const workspace = await Workspace.create(
      (cluster) =>
        `cluster: ${cluster}\nprimary:\n  port: ${primaryPort}\n  resources: { memory: 512m, cpus: 1 }\n  settings: { max_connections: 50 }\nreplicas: [ { name: r1, resources: { memory: 512m, cpus: 1 }, settings: { max_connections: 50 } } ]\npooler: { port: ${poolerPort} }\n`,
    );
    const up = await workspace.ok("up");
    assert.match(up.stdout, new RegExp(`${workspace.cluster}-pooler: created`));
    const primary = `${workspace.cluster}-primary`;
    const password = (await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim();

    // Over the published port with TLS and SCRAM (the role's own password), and refused without TLS.
    const caFile = workspace.path(".pgfort", workspace.cluster, "tls", "ca.crt");
    const clients = await Promise.all([1, 2, 3].map(() => connectTcp(poolerPort, "postgres", password, "postgres", caFile)));
    try {
      assert.equal((await clients[0]!.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0]?.ssl, false, "pooler to server is the socket");
      // The agent's /metrics has the pooler's pools, as PgBouncer's console counts them.
      const pools = (await adminConsole(workspace, "SHOW POOLS")).split("\n").find((line) => line.startsWith("postgres,postgres,"));
      assert.equal(pools?.split(",")[2], "3", `SHOW POOLS: ${pools}`);
      const metrics = await (await fetch(`http://127.0.0.1:${workspace.agentPort}/metrics`)).text();
      assert.match(metrics, /^pgbouncer_up 1$/m);
      assert.match(metrics, /^pgbouncer_pools_client_active_connections\{database="postgres",user="postgres"\} 3$/m);
    } finally {
      for (const client of clients) await client.end();
    }
    await assert.rejects(connectTcp(poolerPort, "postgres", password), /SSL required|no encryption|ssl/i);
    await assert.rejects(connectTcp(poolerPort, "postgres", "wrong password", "postgres", caFile), /password authentication failed|SASL/);

    assert.equal(await psql(primary, "SHOW max_connections"), "50");
    const init = await new Promise<string>((resolve, reject) => execFile("docker", ["exec", primary, "pgbench", "-i", "-s", "2", "-U", "postgres", "postgres"], (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stderr))));
    assert.match(init, /done/);

    // 500 clients at once; the server never sees more connections than the pool allows.
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, Number(await psql(primary, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").catch(() => "0")));
        await sleep(500);
      }
    })();
    const load = await pgbenchThroughPooler(workspace, password, ["-c", "500", "-j", "4", "-T", "15", "-S"]);
    sampling = false;
    await sampler;
    assert.equal(load.code, 0, load.output);
    assert.match(load.output, /number of clients: 500/);
    assert.equal(failed(load.output), 0, load.output);
    assert.ok(processed(load.output) > 0, load.output);
    assert.ok(peak > 0 && peak < 50, `the primary saw ${peak} client connections at most`);

    // A promotion while 100 clients write through the pooler: they wait and resume on r1.
    const writing = pgbenchThroughPooler(workspace, password, ["-c", "100", "-j", "4", "-T", "40"]);
    await sleep(12_000);
    const promoted = await workspace.ok("replica", "promote", "r1", "--yes");
    assert.match(promoted.stdout, /pooler held its clients/);
    const result = await writing;
    const errors = failed(result.output) + aborted(result.output);
    // The figure the issue asks for, in the test's output.
    console.log(`      promotion under pgbench through the pooler: ${processed(result.output)} transactions, ${Number.isNaN(errors) ? "?" : errors} errors (failed transactions + aborted clients), exit ${result.code}`);
    assert.equal(errors, 0, result.output);
    assert.equal(result.code, 0, result.output);
    const r1 = `${workspace.cluster}-r1`;
    assert.equal(await psql(r1, "SELECT pg_is_in_recovery()"), "f");
    assert.ok(pgbenchSumsAgree(await psql(r1, PGBENCH_SUMS_QUERY)), "pgbench's invariant fails on the new primary");
    assert.equal(await psql(r1, "SELECT count(*) FROM pgbench_history"), String(processed(result.output)), "every transaction pgbench counted is on the new primary");
    assert.match(await adminConsole(workspace, "SHOW DATABASES"), new RegExp(`/var/run/pgfort-sockets/${r1}`));
  });
});

