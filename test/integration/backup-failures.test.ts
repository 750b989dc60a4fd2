import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster, listBackups } from "./backup-helpers";
import { docker, psql } from "./postgres";

const run = promisify(execFile);

/** Files of backups under the target: the WAL archive (<cluster>/wal/, the agent's) is not a backup's. */
async function filesUnder(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => [])) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && path.basename(path.dirname(file)) !== "wal") found.push(file);
  }
  return found;
}

describe("pgfort backup failures", function () {
  it("names a missing database and keeps nothing", async function () {
    const workspace = await appCluster();
    const result = await workspace.run("backup", "run", "--kind", "logical", "--database", "app", "--database", "nope");
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^error: database nope does not exist on .*-primary$/m);
    assert.match(result.stderr, /^hint: dump one of: app, postgres/m);
    assert.deepEqual(await filesUnder(workspace.path("backups")), []);
  });

  it("fails when the database container is killed mid-dump, and lists nothing as complete", async function () {
    const workspace = await appCluster("", 20); // big enough that the dump is still running when the server is killed
    const primary = `${workspace.cluster}-primary`;
    const engine = await docker();
    const running = workspace.run("backup", "run", "--kind", "logical", "--database", "app");
    // Kill the server as soon as the dump of app is under way.
    for (let attempt = 0; attempt < 400; attempt += 1) {
      const activity = await psql(primary, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'").catch(() => "0");
      if (activity !== "0") break;
      await sleep(25);
    }
    await engine.killContainer(primary);
    const result = await running;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^error: pg_dump for app\.pgcustom\.zst failed \(exit \d+\)/m);
    assert.match(result.stderr, /^hint: the primary went away during the backup/m);
    assert.ok((await listBackups(workspace)).every((backup) => backup.status !== "complete"));
    assert.deepEqual(await filesUnder(workspace.path("backups")), [], "no partial file is left");
    const { containers } = await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`, "pgfort.role=backup"] });
    assert.deepEqual(containers, [], "no backup container is left");
  });

  it("fails on a full disk with the cause, and leaves no partial file", async function () {
    const workspace = await appCluster("backups:\n  target: file://./small-disk\n  compression: none\n", 5);
    const disk = workspace.path("small-disk");
    await run("mkdir", ["-p", disk]);
    await run("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk]);
    try {
      // The agent's bind mount was made before the tmpfs: a restart mounts the small disk.
      await (await docker()).restartContainer(`${workspace.cluster}-agent`, 10);
      const result = await workspace.run("backup", "run", "--kind", "logical", "--database", "app");
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /^error: cannot write .*small-disk.*app\.pgcustom.*no space left on device/m);
      assert.match(result.stderr, /^hint: the disk of the backup target is full/m);
      assert.deepEqual(await filesUnder(disk), []);
      assert.ok((await listBackups(workspace)).every((backup) => backup.status !== "complete"));
    } finally {
      await run("umount", [disk]);
    }
  });
});

