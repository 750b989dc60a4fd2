import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { uniqueClusterName } from "./clusters";
import { connectTcp, docker, IMAGE, labelledVolume, psql, startServer, engineApi, TEST_PG_MAJOR } from "./postgres";

describe("the hardened image", function () {
  it("has data checksums, PL/Python, every conf.d file in force, no root process, and refuses a wrong password", async function () {
    const cluster = uniqueClusterName();
    const server = await startServer(cluster, "primary", { env: ["POSTGRES_PASSWORD=right-password"] });

    assert.equal(await psql(server.name, "SHOW data_checksums"), "on");

    await psql(server.name, "CREATE EXTENSION plpython3u");
    await psql(
      server.name,
      "CREATE FUNCTION pymax(a integer, b integer) RETURNS integer AS $$ return max(a, b) $$ LANGUAGE plpython3u",
    );
    assert.equal(await psql(server.name, "SELECT pymax(7, 42)"), "42");

    const files = (await psql(server.name, "SELECT DISTINCT sourcefile FROM pg_file_settings ORDER BY 1")).split("\n");
    for (const aspect of ["00-connections", "10-memory", "20-wal", "30-replication", "40-logging", "50-ssl", "60-locale"]) {
      assert.ok(files.includes(`/etc/postgresql/conf.d/${aspect}.conf`), `${aspect}.conf not in pg_file_settings: ${files}`);
    }
    assert.equal(await psql(server.name, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL"), "0");
    assert.equal(await psql(server.name, "SHOW wal_level"), "replica");
    assert.match(await psql(server.name, "SHOW server_version"), new RegExp(`^${TEST_PG_MAJOR}\\.\\d+ `));

    const { Processes } = await engineApi.getContainer(server.name).top({ ps_args: "-o uid,pid,args" });
    assert.ok(Processes && Processes.length >= 5, "expected the postmaster and its workers");
    for (const [uid, , args] of Processes) assert.equal(uid, "999", `process runs as uid ${uid}: ${args}`);

    const good = await connectTcp(server.port, "postgres", "right-password");
    assert.equal((await good.query("SELECT current_setting('password_encryption') AS p")).rows[0].p, "scram-sha-256");
    await good.end();
    await assert.rejects(connectTcp(server.port, "postgres", "wrong-password"), /password authentication failed/);
  });

  it("honours the official image's environment contract: _FILE secrets, names with spaces, initdb scripts once", async function () {
    const cluster = uniqueClusterName();
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-initdb-"));
    try {
      await writeFile(path.join(directory, "password"), "s3cret with spaces\n");
      const scripts = path.join(directory, "initdb.d");
      await mkdir(scripts);
      await writeFile(path.join(scripts, "10-table.sql"), "CREATE TABLE runs (source text);\nINSERT INTO runs VALUES ('sql');\n");
      await writeFile(
        path.join(scripts, "20-rows.sql.gz"),
        gzipSync("INSERT INTO runs VALUES ('sql.gz');\n"),
      );
      await writeFile(path.join(scripts, "30-shell.sh"), 'psql -v ON_ERROR_STOP=1 -c "INSERT INTO runs VALUES (\'sh\')"\n');
      await chmod(directory, 0o755);
      await chmod(scripts, 0o755);

      const server = await startServer(cluster, "primary", {
        env: [
          "POSTGRES_PASSWORD_FILE=/run/secrets/password",
          "POSTGRES_USER=app owner",
          "POSTGRES_DB=my app db",
          "POSTGRES_INITDB_ARGS=--locale=C --encoding=UTF8",
          "POSTGRES_INITDB_WALDIR=/var/lib/postgresql/wal/pg_wal",
          "PGDATA=/var/lib/postgresql/data/pgdata",
        ],
        binds: [`${path.join(directory, "password")}:/run/secrets/password:ro`, `${scripts}:/docker-entrypoint-initdb.d:ro`],
        mounts: [labelledVolume(cluster, "wal", "/var/lib/postgresql/wal")],
      });
      const asOwner = { user: "app owner", db: "my app db" };
      assert.equal(await psql(server.name, "SELECT string_agg(source, ',' ORDER BY source) FROM runs", asOwner), "sh,sql,sql.gz");
      assert.equal(await psql(server.name, "SHOW data_directory", asOwner), "/var/lib/postgresql/data/pgdata");
      assert.equal(await psql(server.name, "SELECT datcollate FROM pg_database WHERE datname = current_database()", asOwner), "C");
      const walLink = await (await docker()).exec(server.name, ["readlink", "/var/lib/postgresql/data/pgdata/pg_wal"]);
      assert.equal(walLink.stdout.trim(), "/var/lib/postgresql/wal/pg_wal");

      const tcp = await connectTcp(server.port, "app owner", "s3cret with spaces", "my app db");
      assert.equal((await tcp.query("SELECT current_user AS u")).rows[0].u, "app owner");
      await tcp.end();

      // Restart: the scripts do not run again and nothing is re-initialised.
      await engineApi.getContainer(server.name).restart();
      await (await docker()).waitUntilHealthy(server.name);
      assert.equal(await psql(server.name, "SELECT count(*) FROM runs", asOwner), "3");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("lets POSTGRES_HOST_AUTH_METHOD=trust in without a password, and refuses to start without any", async function () {
    const cluster = uniqueClusterName();
    const trusting = await startServer(cluster, "trust", { env: ["POSTGRES_HOST_AUTH_METHOD=trust"] });
    const connection = await connectTcp(trusting.port, "postgres", "anything");
    await connection.end();

    const engine = await docker();
    await engine.createAndStart({ name: `${cluster}-nopassword`, Image: IMAGE, Labels: { "pgfort.cluster": cluster } });
    await assert.rejects(engine.waitUntilHealthy(`${cluster}-nopassword`, 60_000), /no superuser password is set/);
  });

  it("runs with a read-only root filesystem and keeps its data across restarts and a new container", async function () {
    const cluster = uniqueClusterName();
    const volume = labelledVolume(cluster, "data", "/var/lib/postgresql/data");
    const first = await startServer(cluster, "primary", { env: ["POSTGRES_PASSWORD=first"], readOnly: true, mounts: [volume] });
    await psql(first.name, "CREATE TABLE kept AS SELECT generate_series(1, 1000) AS n");

    const engine = await docker();
    await engineApi.getContainer(first.name).restart();
    await engine.waitUntilHealthy(first.name);
    assert.equal(await psql(first.name, "SELECT sum(n) FROM kept"), "500500");

    // A new container over the same volume, with another password: never re-initialised.
    await engine.removeContainer(first.name);
    const second = await startServer(cluster, "primary", { env: ["POSTGRES_PASSWORD=second"], readOnly: true, mounts: [volume] });
    assert.equal(await psql(second.name, "SELECT count(*) FROM kept"), "1000");
    const stillFirst = await connectTcp(second.port, "postgres", "first");
    await stillFirst.end();
  });

  it("explains a data directory it cannot own instead of failing obscurely", async function () {
    const cluster = uniqueClusterName();
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-rootowned-"));
    try {
      const engine = await docker();
      await engine.createAndStart({
        name: `${cluster}-primary`,
        Image: IMAGE,
        Env: ["POSTGRES_PASSWORD=x"],
        Labels: { "pgfort.cluster": cluster },
        HostConfig: { Binds: [`${directory}:/var/lib/postgresql/data`] },
      });
      await assert.rejects(engine.waitUntilHealthy(`${cluster}-primary`, 60_000), /chown -R 999:999/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("can be used as a psql client with --entrypoint psql", async function () {
    const cluster = uniqueClusterName();
    const engine = await docker();
    const name = `${cluster}-client`;
    await engine.createAndStart({ name, Image: IMAGE, Entrypoint: ["psql"], Cmd: ["--version"], Labels: { "pgfort.cluster": cluster } });
    const { StatusCode } = (await engineApi.getContainer(name).wait()) as { StatusCode: number };
    assert.equal(StatusCode, 0);
    assert.match(await engine.logTail(name), new RegExp(`psql \\(PostgreSQL\\) ${TEST_PG_MAJOR}\\.`));
  });
});
