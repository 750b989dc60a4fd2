// A cluster with an "app" database under pgbench, and ways to look at the backups it gets.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { PGBENCH_SUMS_QUERY, pgbenchSumsAgree } from "./pgbench";
import { docker, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";

export async function appCluster(extraYaml = "", scale = 1): Promise<Workspace> {
  const port = await freePort();
  const workspace = await Workspace.create(
    (cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 512m, cpus: 1 }\n${extraYaml}`,
  );
  await workspace.ok("up");
  const primary = `${workspace.cluster}-primary`;
  await psql(primary, "CREATE DATABASE app");
  const init = await (await docker()).exec(primary, ["pgbench", "-U", "postgres", "-i", "-q", "-s", String(scale), "app"]);
  assert.equal(init.exitCode, 0, init.stderr);
  return workspace;
}

/** Runs pgbench against app for `seconds` in the background; await the result to join it. */
export function pgbench(workspace: Workspace, seconds: number): Promise<void> {
  return (async () => {
    const run = await (await docker()).exec(`${workspace.cluster}-primary`, ["pgbench", "-U", "postgres", "-n", "-c", "2", "-T", String(seconds), "app"]);
    assert.equal(run.exitCode, 0, run.stderr);
  })();
}

/** pgbench's invariant: every transaction moves the same delta into accounts, tellers, branches and history. */
export async function assertPgbenchConsistent(container: string): Promise<void> {
  const sums = await psql(container, PGBENCH_SUMS_QUERY, { db: "app" });
  assert.ok(pgbenchSumsAgree(sums), `not a consistent snapshot: ${sums}`);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export interface ListedBackup {
  id: string;
  kind: string;
  status: string;
  location: string;
  verified: string | null;
  createdAt: string;
}

export async function listBackups(workspace: Workspace, ...flags: string[]): Promise<ListedBackup[]> {
  return JSON.parse((await workspace.ok("--json", "backup", "list", ...flags)).stdout) as ListedBackup[];
}

export interface Manifest {
  id: string;
  kind: string;
  files: Array<{ name: string; bytes: number; sha256: string; rawBytes: number | null; compression: string; database?: string; content?: string }>;
  rowCounts?: Record<string, Record<string, number>>;
  wal?: { startLsn: string; endLsn: string; timeline: number };
}

export async function backupRun(workspace: Workspace, ...flags: string[]): Promise<Manifest> {
  return JSON.parse((await workspace.ok("--json", "backup", "run", ...flags)).stdout) as Manifest;
}

export interface StoredVerdict {
  file: string;
  status: "passed" | "failed";
  verifiedAt: string;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

/** The verdict files of a local backup, oldest first (their names sort in time order), read straight from disk. */
export async function readVerdicts(directory: string): Promise<StoredVerdict[]> {
  const files = (await readdir(directory)).filter((name) => /^verify-.*\.json$/.test(name)).sort();
  const verdicts: StoredVerdict[] = [];
  for (const file of files) verdicts.push({ file, ...(JSON.parse(await readFile(path.join(directory, file), "utf8")) as Omit<StoredVerdict, "file">) });
  return verdicts;
}
