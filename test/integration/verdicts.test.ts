// Issue 9, acceptance 4: a drill stopped before its end is an error, not a verdict. The drill runs
// in the agent (issue 10): what stops it is the agent going away (killed, as an engine stop or an
// OOM kill would), tested without stopping the engine the other tests share.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { appCluster, backupRun, listBackups, readVerdicts } from "./backup-helpers";
import { runCli } from "./cli";
import { engineApi } from "./postgres";

describe("drill verdicts", function () {
  it("the agent killed mid-drill: exit 3, verdict error, no verdict written, the earlier passed one stands; the agent comes back", async function () {
    const workspace = await appCluster();
    const manifest = await backupRun(workspace, "--kind", "physical");
    await workspace.ok("backup", "verify", manifest.id);
    const directory = workspace.path("backups", workspace.cluster, "physical", manifest.id);
    const before = await readVerdicts(directory);
    assert.deepEqual(before.map((verdict) => verdict.status), ["passed"]);

    const agent = engineApi.getContainer(`${workspace.cluster}-agent`);
    const drill = runCli(["--json", "backup", "verify", manifest.id], { cwd: workspace.directory });
    // Once the drill's scratch server runs in the agent (asked of the engine's process list).
    let scratchServer = false;
    for (let attempt = 0; attempt < 1200 && !scratchServer; attempt += 1) {
      const { Processes } = await agent.top({ ps_args: "-o pid,args" });
      scratchServer = (Processes as string[][]).some((row) => / -D \/var\/lib\/pgfort\/scratch\/drill-/.test(row.join(" ")));
      if (!scratchServer) await sleep(25);
    }
    assert.ok(scratchServer, "the drill's scratch server was seen running in the agent");
    // As the kernel's OOM killer or a crash would: from outside Docker (a `docker kill` is a manual
    // stop, which the restart policy honours until the engine restarts).
    process.kill((await agent.inspect()).State.Pid, "SIGKILL");
    const result = await drill;
    assert.equal(result.code, 3, `${result.stderr}\n${result.stdout}`);
    const output = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    assert.equal(output.error.code, "VERIFY_DRILL_ERROR");
    assert.match(output.error.message, new RegExp(`^the drill of backup ${manifest.id} stopped before a verdict: .*No verdict was recorded`));
    assert.deepEqual(await readVerdicts(directory), before, "the earlier verdict is untouched and no new one was written");
    assert.equal((await listBackups(workspace)).find((backup) => backup.id === manifest.id)?.verified, "passed");
    // Docker restarts the agent (policy always); the next drill runs there and passes.
    for (let attempt = 0; attempt < 600 && !(await agent.inspect()).State.Running; attempt += 1) await sleep(50);
    assert.ok((await agent.inspect()).State.Running, "Docker restarted the agent");
    await workspace.ok("backup", "verify", manifest.id);
    assert.deepEqual((await readVerdicts(directory)).map((verdict) => verdict.status), ["passed", "passed"]);
  });

  it("a drill whose restore fails with a SQL error is a failed verdict", async function () {
    const workspace = await appCluster();
    const manifest = await backupRun(workspace, "--kind", "logical", "--database", "app");
    const directory = workspace.path("backups", workspace.cluster, "logical", manifest.id);
    // A dump pg_restore rejects, with a manifest that matches it: the checksums pass, the restore says no.
    await writeFile(path.join(directory, "garbage.pgcustom"), "PGDMP this is not a dump");
    await promisify(execFile)("zstd", ["-q", "-f", "--rm", "-o", path.join(directory, "app.pgcustom.zst"), path.join(directory, "garbage.pgcustom")]);
    const bytes = await readFile(path.join(directory, "app.pgcustom.zst"));
    const manifestFile = path.join(directory, "manifest.json");
    const stored = JSON.parse(await readFile(manifestFile, "utf8")) as { files: Array<{ name: string; bytes: number; sha256: string }> };
    for (const file of stored.files) {
      if (file.name !== "app.pgcustom.zst") continue;
      file.bytes = bytes.length;
      file.sha256 = createHash("sha256").update(bytes).digest("hex");
    }
    await writeFile(manifestFile, JSON.stringify(stored));
    const result = await workspace.run("backup", "verify", manifest.id);
    assert.equal(result.code, 1, `${result.stderr}\n${result.stdout}`);
    assert.match(result.stdout, /ok {3}sha256 app\.pgcustom\.zst/);
    assert.match(result.stdout, /FAIL restoring app\.pgcustom\.zst: restoring app\.pgcustom\.zst failed \(exit 1\): .*pg_restore/);
    assert.deepEqual((await readVerdicts(directory)).map((verdict) => verdict.status), ["failed"]);
  });
});
