// Compose in (issue 13): `pgfort adopt` moves an official-image service of a user's Compose project
// into a pgfort cluster. No registry is reachable, so the official image is played by a stand-in
// built here from Debian's PostgreSQL 15 with the official entrypoint's contract
// (images/official-standin). Checked with the engine: every table's row count and every role on
// both servers, a restored role logging in with its old password over TLS, the old service and its
// volume untouched, the printed diff, and the rewritten file running the application against pgfort.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile, readdir } from "node:fs/promises";
import { packagePath } from "../../src/paths";
import { docker, engineApi, IMAGE, psql } from "./postgres";
import { eventually } from "./waiting";
import { freePort, Workspace } from "./workspace";

const STANDIN = "postgres:15-pgfort-standin";

function run(program: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(program, args, { cwd, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );
}

async function ok(program: string, args: string[], cwd?: string): Promise<string> {
  const result = await run(program, args, cwd);
  assert.equal(result.code, 0, `${program} ${args.join(" ")}:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

/** SQL on the old server, as its own superuser over its socket. */
async function oldSql(container: string, sql: string, database = "shop"): Promise<string> {
  const result = await (await docker()).exec(container, ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-U", "app", "-d", database], { user: "postgres", stdin: sql });
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout.trim();
}

const ROLES = "SELECT string_agg(format('%s:%s%s%s%s', rolname, rolsuper, rolcreatedb, rolcanlogin, rolreplication), ',' ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_' AND rolname NOT IN ('postgres', 'replicator')";
const COUNTS = "SELECT string_agg(format('%s=%s', t, n), ',' ORDER BY t) FROM (SELECT 'orders' AS t, count(*) AS n FROM orders UNION ALL SELECT 'customers', count(*) FROM customers) c";

describe("pgfort adopt", function () {
  before(async function () {
    this.timeout(15 * 60_000);
    await ok("docker", ["build", "-q", "-t", STANDIN, packagePath("images", "official-standin")]);
  });

  it("moves an official-image service into a pgfort cluster, verified table by table, and prints the few lines to change", async function () {
    const port = await freePort();
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary: { port: ${port} }\nreplicas: [ { name: r1 } ]\n`);
    const cluster = workspace.cluster;
    const project = `${cluster}-app`;
    const composeFile = workspace.path("compose.yaml");
    const original =
      `# the shop\nservices:\n  db:\n    image: ${STANDIN}\n    labels: { pgfort.cluster: ${cluster} }\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: s3cret\n      POSTGRES_DB: shop\n` +
      `    volumes:\n      - dbdata:/var/lib/postgresql/data\n  web:\n    image: ${IMAGE}\n    labels: { pgfort.cluster: ${cluster} }\n` +
      `    entrypoint: ["sh", "-c", "exec psql \\"$$DATABASE_URL\\" -XAtc 'SELECT count(*) FROM orders'"]\n    environment:\n      DATABASE_URL: postgres://app:s3cret@db:5432/shop\n    depends_on:\n      - db\n` +
      `volumes:\n  dbdata:\n    labels: { pgfort.cluster: ${cluster} }\nnetworks:\n  default:\n    labels: { pgfort.cluster: ${cluster} }\n`;
    await writeFile(composeFile, original);
    await ok("docker", ["compose", "-p", project, "up", "-d", "db"], workspace.directory);
    const old = `${project}-db-1`;
    await eventually(60_000, async () => assert.equal(await oldSql(old, "SELECT 1"), "1"), 1000);
    await oldSql(
      old,
      "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 321) g;" +
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer int REFERENCES customers, note text); INSERT INTO orders SELECT g, 1 + g % 321, md5(g::text) FROM generate_series(1, 12345) g;" +
        "CREATE ROLE reporter LOGIN PASSWORD 'rep0rt'; GRANT SELECT ON orders TO reporter; CREATE ROLE batch NOLOGIN CREATEDB; CREATE DATABASE analytics OWNER batch;",
    );
    await oldSql(old, "CREATE SCHEMA s; CREATE TABLE s.events AS SELECT g FROM generate_series(1, 777) g;", "analytics");
    const oldCounts = await oldSql(old, COUNTS);
    const oldRoles = await oldSql(old, ROLES);

    // A service that is not the official image is refused before anything is made.
    const refused = await workspace.run("adopt", "--compose", composeFile, "--service", "web");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /runs .* not the official postgres image/);

    const adopted = await workspace.ok("adopt", "--compose", composeFile, "--service", "db");
    const primary = `${cluster}-primary`;
    assert.equal(await psql(primary, COUNTS, { db: "shop" }), oldCounts);
    assert.equal(oldCounts, "customers=321,orders=12345");
    assert.equal(await psql(primary, "SELECT count(*) FROM s.events", { db: "analytics" }), "777");
    assert.equal(await psql(primary, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'analytics'"), "batch");
    assert.equal(await psql(primary, ROLES), oldRoles);
    assert.equal(oldRoles, "app:tttt,batch:ftff,reporter:fftf");
    // The restored role logs in with its old password, over TLS, from another container.
    const reporter = await run("docker", ["run", "--rm", "--label", `pgfort.cluster=${cluster}`, "--network", `${cluster}-net`, "-e", "PGPASSWORD=rep0rt", "--entrypoint", "psql", IMAGE, `host=${primary} user=reporter dbname=shop sslmode=require`, "-XAtc", "SELECT count(*) || ':' || (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) FROM orders"]);
    assert.equal(reporter.stdout.trim(), "12345:true", reporter.stderr);
    await eventually(60_000, async () => assert.equal(await psql(`${cluster}-r1`, "SELECT count(*) FROM orders", { db: "shop" }), "12345"));

    // The printed diff: the few lines that change; the file itself is not touched without --write.
    const diff = adopted.stdout.split("\n").filter((line) => /^[-+] /.test(line));
    assert.deepEqual(diff.filter((line) => line.startsWith("- ")).map((line) => line.slice(2).trim()), ["DATABASE_URL: postgres://app:s3cret@db:5432/shop", "depends_on:", "- db"]);
    assert.deepEqual(diff.filter((line) => line.startsWith("+ ")).map((line) => line.slice(2).trim()), [
      "profiles: [pgfort-adopted]",
      `DATABASE_URL: postgres://app:s3cret@${primary}:5432/shop`,
      "networks:",
      "- default",
      "- pgfort",
      "pgfort:",
      "external: true",
      `name: ${cluster}-net`,
    ]);
    assert.equal(await readFile(composeFile, "utf8"), original);
    // Nothing of the old service is deleted: it runs, with its data and its volume.
    assert.equal((await engineApi.getContainer(old).inspect()).State.Running, true);
    assert.equal(await oldSql(old, COUNTS), oldCounts);
    await engineApi.getVolume(`${project}_dbdata`).inspect();
    const backups = await readdir(workspace.path(".pgfort", cluster, "adopt"));
    assert.equal(backups.length, 1, "the logical backup is kept");

    // --write: the data is not moved again, the file changes (a copy kept), and the application runs against pgfort.
    const written = await workspace.ok("adopt", "--compose", composeFile, "--service", "db", "--write");
    assert.match(written.stdout, /was adopted into .* before; its data is not moved again/);
    const copies = (await readdir(workspace.directory)).filter((name) => name.startsWith("compose.yaml.before-pgfort-"));
    assert.equal(copies.length, 1);
    assert.equal(await readFile(workspace.path(copies[0] ?? ""), "utf8"), original);
    assert.notEqual(await readFile(composeFile, "utf8"), original);
    await ok("docker", ["compose", "-p", project, "config", "-q"], workspace.directory);
    const app = await ok("docker", ["compose", "-p", project, "run", "--rm", "-T", "web"], workspace.directory);
    assert.equal(app.trim(), "12345", "the application reads the orders from the pgfort primary");
    await ok("docker", ["compose", "-p", project, "down"], workspace.directory);
  });
});
