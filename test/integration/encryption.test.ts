// Client-side encryption (issue 11, acceptance 5): with backups.encryption, no object in the
// target holds table data or a role's password verifier, with compression none or zstd; age
// alone (no pgfort) decrypts a dump that pg_restore reads; restores, drills and WAL replay work
// with the identity, and a wrong identity fails with the keys the backup was encrypted to.
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BackupManifest } from "../../src/backup/manifest";
import { docker, psql, runInImage } from "./postgres";
import { freePort, Workspace } from "./workspace";
import { archiveNow } from "./waiting";

const MARKER = "pgfort-marker-5d1c9e";

async function keypair(cluster: string): Promise<{ publicKey: string; identity: string }> {
  const made = await runInImage(cluster, "age-keygen 2>/dev/null");
  assert.equal(made.exitCode, 0, made.output);
  const publicKey = /public key: (age1[0-9a-z]{58})/.exec(made.output)?.[1];
  const identity = /^AGE-SECRET-KEY-1[0-9A-Z]+$/m.exec(made.output)?.[0];
  assert.ok(publicKey && identity, made.output);
  return { publicKey, identity: `${identity}\n` };
}

/** Every file under the target, and whether any holds `needle` anywhere in its bytes. */
async function filesHolding(root: string, needle: string): Promise<{ files: number; holding: string[] }> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
  const holding: string[] = [];
  for (const file of files) if ((await readFile(file)).includes(Buffer.from(needle))) holding.push(file);
  return { files: files.length, holding };
}


describe("client-side encryption with age", function () {
  this.timeout(900_000);

  it("leaves no table data or password verifier in the target, decrypts with age alone, and names the keys on a wrong identity", async function () {
    const port = await freePort();
    let compression = "none";
    let keys: { right: { publicKey: string; identity: string }; wrong: { publicKey: string; identity: string } } | undefined;
    const yaml = (cluster: string, identity = "right.key") =>
      `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\nbackups:\n  compression: ${compression}\n  encryption: { recipients: [${keys?.right.publicKey ?? ""}], identityFile: ./${identity} }\nwal: { archiveTimeout: 10s }\n`;
    const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\n`);
    keys = { right: await keypair(workspace.cluster), wrong: await keypair(workspace.cluster) };
    await writeFile(workspace.path("right.key"), keys.right.identity, { mode: 0o600 });
    await writeFile(workspace.path("wrong.key"), keys.wrong.identity, { mode: 0o600 });
    await workspace.writeConfig(yaml(workspace.cluster));
    await workspace.ok("up");
    const primary = `${workspace.cluster}-primary`;
    await psql(primary, "CREATE DATABASE app");
    await psql(primary, `CREATE ROLE appuser LOGIN PASSWORD 'a-password'`);
    await psql(primary, `CREATE TABLE marks AS SELECT g AS id, '${MARKER}' || g AS note FROM generate_series(1, 2000) g`, { db: "app" });
    const manifests: BackupManifest[] = [];
    for (const round of ["none", "zstd"]) {
      if (round === "zstd") {
        compression = "zstd";
        await workspace.writeConfig(yaml(workspace.cluster));
        await workspace.ok("up");
      }
      for (const kind of ["logical", "physical"]) manifests.push(JSON.parse((await workspace.ok("backup", "run", "--kind", kind, "--json")).stdout) as BackupManifest);
      await psql(primary, `INSERT INTO marks SELECT g, '${MARKER}' || g FROM generate_series(2001, 2100) g`, { db: "app" });
      await archiveNow(primary);
    }
    assert.ok(manifests.every((manifest) => manifest.encryption?.recipients[0] === keys?.right.publicKey && manifest.files.every((file) => file.encryption === "age" && file.name.endsWith(".age"))));
    const target = workspace.path("backups", workspace.cluster);
    const wal = (await readdir(path.join(target, "wal"))).filter((name) => /^[0-9A-F]{24}\./.test(name));
    assert.ok(wal.length > 2 && wal.every((name) => name.endsWith(".age")), wal.join(", "));
    for (const needle of [MARKER, "SCRAM-SHA-256$"]) {
      const { files, holding } = await filesHolding(target, needle);
      assert.ok(files > 10);
      assert.deepEqual(holding, [], `${needle} is in ${holding.join(", ")}`);
    }

    // age alone decrypts a dump; pg_restore reads it.
    const dump = manifests[0]?.files.find((file) => file.database === "app");
    assert.equal(dump?.name, "app.pgcustom.age");
    const listing = await runInImage(
      workspace.cluster,
      `age -d -i /keys/right.key /target/logical/${manifests[0]?.id ?? ""}/app.pgcustom.age | pg_restore --list`,
      [`${target}:/target:ro`, `${workspace.directory}:/keys:ro`],
    );
    assert.equal(listing.exitCode, 0, listing.output);
    assert.match(listing.output, /TABLE DATA public marks/);
    // The needle search can find what it looks for: the decrypted dump (compression none) holds the marker.
    const control = await runInImage(workspace.cluster, `age -d -i /keys/right.key /target/logical/${manifests[0]?.id ?? ""}/app.pgcustom.age | grep -ac ${MARKER}`, [`${target}:/target:ro`, `${workspace.directory}:/keys:ro`]);
    assert.ok(Number(control.output.trim()) > 0, control.output);

    // With the identity: a drill passes, and a physical backup plus encrypted WAL restores to the end.
    const physical = manifests[3];
    assert.match((await workspace.ok("backup", "verify", physical?.id ?? "")).stdout, /verify passed/);
    await workspace.ok("restore", "--as", "sealed", "--latest");
    assert.equal(await psql(`${workspace.cluster}-sealed`, "SELECT count(*) FROM marks WHERE note LIKE 'pgfort-marker-%'", { db: "app" }), "2200");

    // The wrong identity: a clear error naming the key the backup was encrypted to; nothing left.
    await workspace.writeConfig(yaml(workspace.cluster, "wrong.key"));
    await workspace.ok("up");
    const refused = await workspace.run("restore", manifests[0]?.id ?? "", "--as", "never");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`cannot decrypt backup ${manifests[0]?.id ?? ""}: it was encrypted to ${keys.right.publicKey}`));
    assert.match(refused.stderr, /hint: set backups.encryption.identityFile to the identity \(private key\) of one of those recipients/);
    assert.equal(await (await docker()).inspectContainerIfExists(`${workspace.cluster}-never`), undefined);
    const replay = await workspace.run("restore", "--as", "never", "--latest");
    assert.notEqual(replay.code, 0);
    assert.match(replay.stderr, /cannot decrypt .*: it was encrypted to age1|cannot decrypt .*identity in backups.encryption.identityFile is not one of the keys/);
  });
});
