// pgfort run by an ordinary user of the docker group (issue 9, item 7): every command works without
// root, secrets stay the operator's 0600 files, and a user outside the group gets one clear error.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { CliResult } from "./cli";
import { engineApi, psql } from "./postgres";
import { freePort, Workspace } from "./workspace";

const run = promisify(execFile);
const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "index.js");

interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

async function createUser(groups: string[]): Promise<OsUser> {
  const name = `pgf${randomBytes(4).toString("hex")}`;
  await run("useradd", ["--create-home", "--shell", "/bin/sh", ...(groups.length ? ["--groups", groups.join(",")] : []), name]);
  const { stdout } = await run("getent", ["passwd", name]);
  const [, , uid, gid, , home] = stdout.trim().split(":");
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? `/home/${name}` };
}

/** The built CLI run as `user` (runuser: no root left, the user's own groups), without a TTY. */
function runAs(user: OsUser, workspace: Workspace, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      "runuser",
      ["-u", user.name, "--", process.execPath, CLI, ...args],
      {
        cwd: workspace.directory,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: user.home, USER: user.name, PGFORT_TEST_IMAGE: process.env["PGFORT_TEST_IMAGE"] },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 10 * 60_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function okAs(user: OsUser, workspace: Workspace, ...args: string[]): Promise<CliResult> {
  const result = await runAs(user, workspace, ...args);
  assert.equal(result.code, 0, `pgfort ${args.join(" ")} as ${user.name} exited ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result;
}

async function workspaceOf(user: OsUser): Promise<Workspace> {
  const port = await freePort();
  const workspace = await Workspace.create((cluster) => `cluster: ${cluster}\nprimary:\n  port: ${port}\n  resources: { memory: 256m, cpus: 1 }\n`);
  await chown(workspace.directory, user.uid, user.gid);
  await chown(workspace.path("pgfort.yaml"), user.uid, user.gid);
  return workspace;
}

describe("pgfort as a non-root user", function () {
  const users: OsUser[] = [];
  after(async function () {
    for (const user of users) await run("userdel", ["--remove", user.name]).catch(() => undefined);
  });

  it("runs up, backup run, verify, replica add and down as a member of the docker group", async function () {
    const operator = await createUser(["docker"]);
    users.push(operator);
    const workspace = await workspaceOf(operator);
    const primary = `${workspace.cluster}-primary`;

    await okAs(operator, workspace, "up");
    // The operator owns the host copy of the secrets, readable by nobody else; the containers got theirs without chown.
    const secret = workspace.path(".pgfort", workspace.cluster, "secrets", "postgres-password");
    const secretStat = await stat(secret);
    assert.equal(secretStat.uid, operator.uid);
    assert.equal(secretStat.mode & 0o777, 0o600);
    const inspected = JSON.stringify(await engineApi.getContainer(primary).inspect());
    assert.ok(!inspected.includes((await workspace.read(".pgfort", workspace.cluster, "secrets", "postgres-password")).trim()), "a secret is visible in docker inspect");
    const mount = (await engineApi.getContainer(primary).inspect()).Mounts.find((candidate) => candidate.Destination === "/run/secrets");
    assert.equal(mount?.Name, `${workspace.cluster}-secrets`);
    assert.equal(mount?.RW, false);

    await psql(primary, "CREATE TABLE kept AS SELECT generate_series(1, 500) AS id");
    const backup = await okAs(operator, workspace, "backup", "run", "--kind", "logical", "--json");
    const { id } = JSON.parse(backup.stdout) as { id: string };
    // Written by the job as uid 999 in the agent image, in the operator's group (the directory is
    // setgid to it) and readable by it: the operator's own `backup list` reads it.
    const manifest = await stat(workspace.path("backups", workspace.cluster, "logical", id, "manifest.json"));
    assert.equal(manifest.uid, 999);
    assert.equal(manifest.gid, operator.gid);
    assert.equal(manifest.mode & 0o777, 0o640);
    const listed = JSON.parse((await okAs(operator, workspace, "backup", "list", "--json")).stdout) as Array<{ id: string; status: string }>;
    assert.equal(listed.find((entry) => entry.id === id)?.status, "complete");
    const verify = await okAs(operator, workspace, "backup", "verify", "--latest", "--json");
    assert.match(verify.stdout, new RegExp(id));

    await okAs(operator, workspace, "replica", "add", "r1");
    assert.equal(await psql(primary, "SELECT string_agg(application_name || ':' || state, ',') FROM pg_stat_replication"), "r1:streaming");
    assert.equal(await psql(`${workspace.cluster}-r1`, "SELECT count(*) FROM kept"), "500");

    await okAs(operator, workspace, "down", "--volumes", "--yes");
    const filters = { label: [`pgfort.cluster=${workspace.cluster}`] };
    assert.deepEqual(await engineApi.listContainers({ all: true, filters }), []);
    assert.deepEqual((await engineApi.listVolumes({ filters })).Volumes ?? [], []);
  });

  it("tells a user outside the docker group, in one line, to join it", async function () {
    const outsider = await createUser([]);
    users.push(outsider);
    const workspace = await workspaceOf(outsider);
    const result = await runAs(outsider, workspace, "up");
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(result.stderr.trim().split("\n"), [
      "error: permission denied on the Docker socket /var/run/docker.sock",
      "hint: add this user to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root",
    ]);
  });
});
