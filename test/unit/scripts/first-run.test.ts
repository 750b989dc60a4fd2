// What `npm start` (prestart) says where it cannot set the machine up itself: one line naming what
// to run. Real bash runs the real scripts; PATH holds only stand-ins for the commands each case
// has (a non-root `id`, an `apt-get`, a `dockerd`), so "not root" and "not Debian" need neither.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const REPOSITORY = path.resolve(__dirname, "..", "..", "..", "..");

interface ScriptResult {
  code: number;
  stderrLines: string[];
}

async function runScript(script: string, commands: Record<string, string>): Promise<ScriptResult> {
  const bin = await mkdtemp(path.join(os.tmpdir(), "pgfort-first-run-"));
  try {
    for (const [name, body] of Object.entries(commands)) {
      await writeFile(path.join(bin, name), `#!/bin/bash\n${body}\n`);
      await chmod(path.join(bin, name), 0o755);
    }
    return await new Promise((resolve) => {
      execFile("/bin/bash", [path.join(REPOSITORY, "scripts", script)], { env: { PATH: bin, DOCKER_HOST: "unix:///tmp/pgfort-no-such-docker.sock" } }, (error, _stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stderrLines: stderr.split("\n").filter((line) => line !== "") });
      });
    });
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
}

// A user who is not root (uid 1000, named alice); `id -u` and `id -un` as coreutils answer them.
const NOT_ROOT = { id: 'if [ "$1" = -un ]; then echo alice; else echo 1000; fi' };
const DEBIAN = { "apt-get": "exit 100" };

describe("first run: what the set-up scripts say when they cannot go on", function () {
  it("setup-docker.sh, not root on Debian: one line, run it as root", async function () {
    const result = await runScript("setup-docker.sh", { ...NOT_ROOT, ...DEBIAN });
    assert.equal(result.code, 1);
    assert.equal(result.stderrLines.length, 1, result.stderrLines.join("\n"));
    assert.match(result.stderrLines[0] ?? "", /^setup-docker: no Docker engine answers, and installing Debian's docker\.io needs root: run 'sudo bash scripts\/setup-docker\.sh'/);
  });

  it("setup-docker.sh, not Debian: one line, install Docker Engine", async function () {
    const result = await runScript("setup-docker.sh", { id: "echo 0" });
    assert.equal(result.code, 1);
    assert.equal(result.stderrLines.length, 1, result.stderrLines.join("\n"));
    assert.match(result.stderrLines[0] ?? "", /^setup-docker: no Docker engine answers and this is not Debian\/Ubuntu: install Docker Engine \(https:\/\/docs\.docker\.com\/engine\/install\/\)/);
  });

  it("setup-docker.sh, dockerd installed but stopped and not root: one line, start it", async function () {
    const result = await runScript("setup-docker.sh", { ...NOT_ROOT, ...DEBIAN, dockerd: "exit 1" });
    assert.equal(result.code, 1);
    assert.deepEqual(result.stderrLines, ["setup-docker: dockerd is installed but not running: run 'sudo systemctl start docker' (or this script as root), then run this again"]);
  });

  it("base-image.sh, image missing and not root: one line, run it as root or docker load", async function () {
    const result = await runScript("base-image.sh", { ...NOT_ROOT, ...DEBIAN, docker: "exit 1" });
    assert.equal(result.code, 1);
    assert.deepEqual(result.stderrLines, [
      "base-image: debian:trixie-slim is missing and cannot be pulled, and building it with debootstrap needs root: run 'sudo bash scripts/base-image.sh debian:trixie-slim' (or the whole command as root), or 'docker load' a debian:trixie-slim image",
    ]);
  });

  it("base-image.sh, image missing on a host without debootstrap or apt: one line", async function () {
    const result = await runScript("base-image.sh", { id: "echo 0", docker: "exit 1" });
    assert.equal(result.code, 1);
    assert.equal(result.stderrLines.length, 1, result.stderrLines.join("\n"));
    assert.match(result.stderrLines[0] ?? "", /building it needs debootstrap, which this host lacks \(not Debian\/Ubuntu\): install debootstrap/);
  });

  it("both say nothing more than that all is there when it is", async function () {
    const engine = await runScript("setup-docker.sh", { ...NOT_ROOT, docker: "exit 0" });
    assert.deepEqual(engine, { code: 0, stderrLines: ["setup-docker: Docker engine already answers"] });
    const base = await runScript("base-image.sh", { ...NOT_ROOT, docker: "exit 0" });
    assert.deepEqual(base, { code: 0, stderrLines: ["base-image: debian:trixie-slim is present"] });
  });
});
