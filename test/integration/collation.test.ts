// The collation guard (issue 12): a database whose recorded collation version is not the running C
// library's is reported by status with PostgreSQL's own warning, refused by a physical restore, and
// restored with --reindex: its text indexes rebuilt and its version refreshed before the server
// takes writes. The mismatch is made the way a base-image change makes it: the recorded version
// differs from the library's (here by writing pg_database.datcollversion as the superuser).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import type { BackupManifest } from "../../src/backup/manifest";
import { agentImageTag } from "../../src/agent/contract";
import { docker, engineApi, IMAGE, psql, TEST_PG_MAJOR } from "./postgres";
import { Workspace } from "./workspace";

describe("collation guard", function () {
  this.timeout(600_000);

  it("status shows the mismatch, a physical restore refuses it and leaves nothing, --reindex rebuilds the indexes and refreshes the version", async function () {
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  resources: { memory: 512m, cpus: 1 }\n`);
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    await psql(primary, "CREATE DATABASE app");
    await psql(primary, "CREATE TABLE words(w text); INSERT INTO words SELECT md5(g::text) FROM generate_series(1, 20000) g; CREATE INDEX words_w ON words (w); CREATE INDEX words_c ON words (w COLLATE \"C\")", { db: "app" });
    const library = await psql(primary, "SELECT pg_database_collation_actual_version(oid) FROM pg_database WHERE datname = 'app'");
    assert.match(library, /^2\.\d+$/, "the cluster's default locale is a glibc one");
    await psql(primary, "UPDATE pg_database SET datcollversion = '0.1' WHERE datname = 'app'");
    // PostgreSQL itself now warns on every connection to app.
    const warned = await (await docker()).exec(primary, ["psql", "-X", "-At", "-U", "postgres", "-d", "app", "-c", "SELECT 1"]);
    assert.match(warned.stderr, /database "app" has a collation version mismatch/);

    const status = await workspace.ok("status");
    assert.match(status.stdout, /primary: WARNING: {2}database "app" has a collation version mismatch/);
    assert.equal(status.stdout.match(/WARNING:/g)?.length, 1, "only app: template0 records no version, the rest match");
    assert.match(status.stdout, new RegExp(`created using collation version 0\\.1, but the operating system provides version ${library.replace(".", "\\.")}\\.`));

    const backup = JSON.parse((await workspace.ok("backup", "run", "--kind", "physical", "--json")).stdout) as BackupManifest;
    assert.deepEqual(backup.collation?.databases.find((database) => database.name === "app"), { name: "app", provider: "c", version: "0.1" });

    const refused = await workspace.run("restore", backup.id, "--as", "plain");
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`error: backup ${backup.id} holds databases sorted under other collation rules than this image's C library \\(glibc ${library.replace(".", "\\.")}\\): app \\(0\\.1\\)`));
    assert.match(refused.stderr, /hint: restore it with --reindex/);
    const engine = await docker();
    assert.equal(await engine.inspectContainerIfExists(`${workspace.cluster}-plain`), undefined, "no server left behind");
    // The drill restores it as `restore --reindex` would, and says so.
    const drilled = JSON.parse((await workspace.ok("backup", "verify", backup.id, "--json")).stdout) as { status: string; checks: Array<{ name: string; ok: boolean; detail: string }> };
    assert.equal(drilled.status, "passed");
    assert.match(drilled.checks.find((check) => check.name === "collation")?.detail ?? "", /rebuilt \d+ index\(es\) as restore --reindex does; restore this backup with --reindex/);

    const relfilenode = (container: string, index: string) => psql(container, `SELECT relfilenode FROM pg_class WHERE relname = '${index}'`, { db: "app" });
    const restored = await workspace.ok("restore", backup.id, "--as", "fixed", "--reindex");
    assert.match(restored.stdout, /collation: rebuilt \d+ index\(es\) in \d+ database\(s\)/);
    const fixed = `${workspace.cluster}-fixed`;
    assert.equal(await psql(fixed, "SELECT datcollversion FROM pg_database WHERE datname = 'app'"), library);
    const clean = await engine.exec(fixed, ["psql", "-X", "-At", "-U", "postgres", "-d", "app", "-c", "SELECT count(*) FROM words"]);
    assert.equal(clean.stdout.trim(), "20000");
    assert.doesNotMatch(clean.stderr, /collation version mismatch/);
    // The index sorted by the library was rebuilt; the one in "C" order needed nothing.
    assert.notEqual(await relfilenode(fixed, "words_w"), await relfilenode(primary, "words_w"));
    assert.equal(await relfilenode(fixed, "words_c"), await relfilenode(primary, "words_c"));
    await psql(fixed, "CREATE EXTENSION IF NOT EXISTS amcheck; SELECT bt_index_check('words_w', true)", { db: "app" });
    const throughIndex = (await psql(fixed, "SET enable_seqscan = off; SELECT count(*) FROM words WHERE w >= '8'", { db: "app" })).split("\n").at(-1);
    assert.equal(throughIndex, await psql(primary, "SELECT count(*) FROM words WHERE w >= '8'", { db: "app" }));
  });

  it("an image change under the primary is refused when its databases were indexed under other rules, and --reindex rebuilds them before writes", async function () {
    // The cluster's own tag of the image under test, so changing the image behind it touches no other test.
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nimage: { tag: "pgfort-test/collation-${cluster}:${TEST_PG_MAJOR}", pgMajor: ${TEST_PG_MAJOR} }\nprimary:\n  resources: { memory: 512m, cpus: 1 }\n`);
    const tag = `pgfort-test/collation-${workspace.cluster}:${TEST_PG_MAJOR}`;
    await engineApi.getImage(IMAGE).tag({ repo: `pgfort-test/collation-${workspace.cluster}`, tag: String(TEST_PG_MAJOR) });
    const images: string[] = [];
    try {
      await workspace.ok("up");
      const primary = `${workspace.cluster}-primary`;
      await psql(primary, "CREATE DATABASE app");
      await psql(primary, "CREATE TABLE words(w text); INSERT INTO words SELECT md5(g::text) FROM generate_series(1, 20000) g; CREATE INDEX words_w ON words (w); CREATE INDEX words_c ON words (w COLLATE \"C\")", { db: "app" });
      const library = await psql(primary, "SELECT pg_database_collation_actual_version(oid) FROM pg_database WHERE datname = 'app'");
      await psql(primary, "UPDATE pg_database SET datcollversion = '0.1' WHERE datname = 'app'");
      const relfilenode = (index: string) => psql(primary, `SELECT relfilenode FROM pg_class WHERE relname = '${index}'`, { db: "app" });
      const [indexedW, indexedC] = [await relfilenode("words_w"), await relfilenode("words_c")];
      const oldImage = (await engineApi.getContainer(primary).inspect()).Image;

      // The agent image made for the first image is rebuilt for the second: both are this test's to remove.
      images.push((await engineApi.getImage(agentImageTag(tag)).inspect()).Id);
      // A rebuilt image behind the same tag (as pgfort build on another base makes one).
      execFileSync("docker", ["build", "-q", "-t", tag, "-"], { input: `FROM ${tag}\nLABEL io.pgfort.test-rebuild="${workspace.cluster}"\n` });
      const refused = await workspace.run("up");
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`error: ${primary}: the new image ${tag.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} sorts text by other collation rules than these databases were indexed with: app \\(0\\.1 → ${library.replace(".", "\\.")}\\)`));
      assert.match(refused.stderr, /hint: pgfort up --reindex rebuilds the indexes/);
      const after = await engineApi.getContainer(primary).inspect();
      assert.equal(after.Image, oldImage, "the old server runs again, on its old image");
      assert.equal(after.State.Running, true);
      assert.equal(await psql(primary, "SELECT count(*) FROM words", { db: "app" }), "20000");
      assert.equal(await relfilenode("words_w"), indexedW, "nothing was rebuilt");
      assert.deepEqual((await engineApi.listContainers({ all: true, filters: { label: [`pgfort.cluster=${workspace.cluster}`, "pgfort.role=restore"] } })).map((container) => container.Names), [], "no check server left");

      const fixed = await workspace.ok("up", "--reindex");
      assert.match(fixed.stdout, new RegExp(`${primary}: recreated \\(new image: rebuilt \\d+ index\\(es\\) in app, collation versions refreshed\\)`));
      assert.notEqual((await engineApi.getContainer(primary).inspect()).Image, oldImage);
      assert.equal(await psql(primary, "SELECT datcollversion FROM pg_database WHERE datname = 'app'"), library);
      assert.notEqual(await relfilenode("words_w"), indexedW, "the index the library orders was rebuilt");
      assert.equal(await relfilenode("words_c"), indexedC, "the one in C order needed nothing");
      const clean = await (await docker()).exec(primary, ["psql", "-X", "-At", "-U", "postgres", "-d", "app", "-c", "SELECT count(*) FROM words"]);
      assert.doesNotMatch(clean.stderr, /collation version mismatch/);
      assert.match((await workspace.ok("up")).stdout, new RegExp(`${primary}: (unchanged|reconfigured)`), "the same image again: no check");
    } finally {
      for (const image of [agentImageTag(tag), ...images, tag]) await engineApi.getImage(image).remove({ force: true }).catch(() => undefined);
    }
  });
});
