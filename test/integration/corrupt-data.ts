// Corrupting a cluster's data files on disk, for the tests of checks that must catch it: the
// primary stopped, bytes overwritten in a one-off container over its volumes, the primary started.
import assert from "node:assert/strict";
import { docker, IMAGE, psql } from "./postgres";
import type { Workspace } from "./workspace";

/** A shell command in a one-off container of the image over the primary's data volume, as `user`. */
export async function onDataVolume(cluster: string, user: string, script: string): Promise<string> {
  const engine = await docker();
  const name = `${cluster}-tool-${Math.random().toString(16).slice(2, 8)}`;
  await engine.createAndStart({
    name,
    Image: IMAGE,
    User: user,
    Entrypoint: ["bash", "-c"],
    Cmd: [script],
    Labels: { "pgfort.cluster": cluster },
    HostConfig: { Binds: [`${cluster}-primary-data:/var/lib/postgresql/data`, `${cluster}-primary-wal:/var/lib/postgresql/wal`] },
  });
  const exitCode = await engine.waitContainer(name);
  const output = await engine.logTail(name, 100_000);
  await engine.removeContainer(name);
  assert.equal(exitCode, 0, output);
  return output;
}

/** Overwrites 64 bytes of block 1 of a relation file with `byte`, at `offset` in the block (default: the middle; block 0 of an index is its metapage). */
export function flipBlock(file: string, offset = 4000, byte = "a5"): string {
  return `printf '%.0s\\x${byte}' $(seq 64) | dd of=/var/lib/postgresql/data/${file} bs=1 seek=$((8192 + ${offset})) conv=notrunc status=none`;
}

export async function stopAndCorrupt(workspace: Workspace, scripts: string[], options: { disableChecksums?: boolean } = {}): Promise<void> {
  const engine = await docker();
  const primary = `${workspace.cluster}-primary`;
  await psql(primary, "CHECKPOINT");
  await engine.stopContainer(primary);
  if (options.disableChecksums) await onDataVolume(workspace.cluster, "999:999", "pg_checksums --disable -D /var/lib/postgresql/data");
  await onDataVolume(workspace.cluster, "0:0", scripts.join(" && "));
  await engine.startContainer(primary);
  await engine.waitUntilHealthy(primary, 120_000);
}

export async function createVictim(workspace: Workspace): Promise<{ table: string; index: string }> {
  const primary = `${workspace.cluster}-primary`;
  await psql(primary, "CREATE TABLE victim (id int PRIMARY KEY, payload text); INSERT INTO victim SELECT g, repeat('x', 100) || g FROM generate_series(1, 20000) g", { db: "app" });
  const table = await psql(primary, "SELECT pg_relation_filepath('victim')", { db: "app" });
  const index = await psql(primary, "SELECT pg_relation_filepath('victim_pkey')", { db: "app" });
  return { table, index };
}
