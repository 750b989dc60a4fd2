// Issue 9, acceptance 4: a drill stopped by the engine going away is an error, not a verdict. The
// engine is not stopped (other tests share it): the CLI talks to it through a unix-socket proxy
// that the test destroys mid-drill, with every connection through it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { appCluster, backupRun, listBackups, readVerdicts } from "./backup-helpers";
import { runCli } from "./cli";
import { docker } from "./postgres";

interface EngineProxy {
  socket: string;
  destroy(): Promise<void>;
}

async function startEngineProxy(): Promise<EngineProxy> {
  const socket = path.join(os.tmpdir(), `pgfort-engine-${randomBytes(4).toString("hex")}.sock`);
  const connections = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const engine = net.connect("/var/run/docker.sock");
    for (const end of [client, engine]) {
      connections.add(end);
      end.on("close", () => connections.delete(end));
      end.on("error", () => undefined);
    }
    client.pipe(engine).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    async destroy() {
      const closed = new Promise((resolve) => server.close(resolve)); // also removes the socket file
      for (const connection of connections) connection.destroy();
      await closed;
    },
  };
}

describe("drill verdicts", function () {
  it("the engine gone mid-drill: exit 3, verdict error, no verdict written, the earlier passed one stands", async function () {
    const workspace = await appCluster();
    const manifest = await backupRun(workspace, "--kind", "physical");
    await workspace.ok("backup", "verify", manifest.id);
    const directory = workspace.path("backups", workspace.cluster, "physical", manifest.id);
    const before = await readVerdicts(directory);
    assert.deepEqual(before.map((verdict) => verdict.status), ["passed"]);

    const proxy = await startEngineProxy();
    let destroyed = false;
    try {
      const drill = runCli(["--json", "backup", "verify", manifest.id], { cwd: workspace.directory, env: { DOCKER_HOST: `unix://${proxy.socket}` } });
      const engine = await docker();
      // A few seconds into the drill: once its first container exists (asked of the engine directly).
      for (let attempt = 0; attempt < 600; attempt += 1) {
        const { containers } = await engine.listLabelled({ label: [`pgfort.cluster=${workspace.cluster}`, "pgfort.role=verify"] });
        if (containers.length > 0) break;
        await sleep(50);
      }
      await sleep(2000);
      await proxy.destroy();
      destroyed = true;
      const result = await drill;
      assert.equal(result.code, 3, `${result.stderr}\n${result.stdout}`);
      const output = JSON.parse(result.stdout) as { error: { code: string; message: string } };
      assert.equal(output.error.code, "VERIFY_DRILL_ERROR");
      assert.match(output.error.message, new RegExp(`^the drill of backup ${manifest.id} stopped before a verdict: .*No verdict was recorded`));
    } finally {
      if (!destroyed) await proxy.destroy();
    }
    assert.deepEqual(await readVerdicts(directory), before, "the earlier verdict is untouched and no new one was written");
    assert.equal((await listBackups(workspace)).find((backup) => backup.id === manifest.id)?.verified, "passed");
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
