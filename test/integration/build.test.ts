import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runCli } from "./cli";
import { agentImageTag } from "../../src/agent/contract";
import { VERSION } from "../../src/version";
import { uniqueClusterName } from "./clusters";
import { docker, IMAGE, TEST_PG_MAJOR } from "./postgres";

describe("pgfort build", function () {
  it("builds the image and reports tag, id and size; --json gives events and a JSON result", async function () {
    const result = await runCli(["--json", "build"]);
    assert.equal(result.code, 0, result.stderr);
    const built = JSON.parse(result.stdout) as { tag: string; id: string; sizeBytes: number };
    assert.equal(built.tag, "pgfort/postgres:17");
    assert.match(built.id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(built.sizeBytes > 50_000_000);
    const events = result.stderr.trim().split("\n").map((line) => JSON.parse(line) as { event: string; step?: number; total?: number });
    const steps = events.filter((event) => event.step !== undefined);
    assert.ok(steps.length > 5, "expected step events");
    assert.equal(steps.at(-1)?.step, steps.at(-1)?.total);
    const image = await (await docker()).inspectImage(built.tag);
    assert.equal(image.Config.User, "999:999");
    assert.equal(image.Config.Labels?.["io.pgfort.pg-major"], "17");
    assert.equal(image.Config.Labels?.["org.opencontainers.image.base.name"], "debian:trixie-slim");
    assert.deepEqual(image.Config.Healthcheck?.Test?.[0], "CMD-SHELL");
    assert.equal((image.Config as { StopSignal?: string }).StopSignal, "SIGINT");
    // The agent image, built on the one just built.
    const agent = (JSON.parse(result.stdout) as { agent: { tag: string } }).agent;
    assert.equal(agent.tag, "pgfort/postgres:17-agent");
    const agentImage = await (await docker()).inspectImage(agent.tag);
    assert.equal(agentImage.Config.User, "999:999");
    assert.deepEqual(agentImage.Config.Entrypoint, ["pgfort"]);
  });

  it("the agent image runs pgfort on its own Node >= 20 beside the server's own tools, as 999 on a read-only root", async function () {
    const engine = await docker();
    const cluster = uniqueClusterName();
    const name = `${cluster}-agent-probe`;
    const script = [
      "set -e",
      "id -u",
      "node --version",
      "pgfort --version",
      "pg_dump --version",
      "postgres --version",
      "pgfort monitoring rules >/dev/null && echo rules-ok",
    ].join("; ");
    await engine.createAndStart({
      name,
      Image: agentImageTag(IMAGE),
      Entrypoint: ["sh", "-c"],
      Cmd: [script],
      Labels: { "pgfort.cluster": cluster },
      HostConfig: { ReadonlyRootfs: true, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"], Tmpfs: { "/tmp": "" } },
    });
    assert.equal(await engine.waitContainer(name), 0, await engine.logTail(name));
    const lines = (await engine.logTail(name)).trim().split("\n");
    assert.equal(lines[0], "999");
    assert.ok(Number(/^v(\d+)\./.exec(lines[1] ?? "")?.[1]) >= 20, `node: ${lines[1]}`);
    assert.equal(lines[2], VERSION);
    // pg_dump and the server are the same major: the agent's tools are the server's own.
    const major = (line: string | undefined) => /\) (\d+)\./.exec(line ?? "")?.[1];
    assert.equal(major(lines[3]), major(lines[4]));
    assert.equal(major(lines[4]), String(TEST_PG_MAJOR));
    assert.equal(lines[5], "rules-ok");
  });

  it("fails non-zero on a major the base cannot install, says why, and tags nothing", async function () {
    const tag = `pgfort-test/broken:${randomBytes(4).toString("hex")}`;
    // Debian bookworm has no PostgreSQL 13 packages: the install step fails.
    const result = await runCli(["build", "--pg-major", "13", "--tag", tag]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^error: PostgreSQL 13 is not in the package repositories of debian:bookworm-slim$/m);
    assert.match(result.stderr, /^hint: .*PGDG repository/m);
    assert.equal(await (await docker()).imageExists(tag), false);
  });

  it("fails non-zero on a failing step and shows that step's output", async function () {
    const tag = `pgfort-test/broken:${randomBytes(4).toString("hex")}`;
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-build-"));
    const configFile = path.join(directory, "pgfort.yaml");
    await writeFile(configFile, `image: { tag: "${tag}", extensions: [plpython3, no-such-extension] }\n`);
    const result = await runCli(["--config", configFile, "build"]);
    await rm(directory, { recursive: true, force: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^error: step \d+\/\d+ \(RUN .*\) failed: The command .* returned a non-zero code: 100$/m);
    assert.match(result.stderr, /--- output of the failing step ---[\s\S]*Unable to locate package postgresql-17-no-such-extension/);
    assert.equal(await (await docker()).imageExists(tag), false);
  });

  it("says the base image cannot be pulled and how to make it offline", async function () {
    const tag = `pgfort-test/nobase:${randomBytes(4).toString("hex")}`;
    const result = await runCli(["build", "--base", "debian:bullseye-slim", "--tag", tag]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /error: the base image debian:bullseye-slim is not on this host and cannot be pulled/);
    assert.match(result.stderr, /hint: build it offline with: bash scripts\/base-image.sh/);
    assert.equal(await (await docker()).imageExists(tag), false);
  });

  it("rejects an unknown option and a bad value in one line each", async function () {
    const unknown = await runCli(["build", "--colour", "red"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: unknown option '--colour'$/m);
    const bad = await runCli(["build", "--pg-major", "latest"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: invalid option: --pg-major: expected a PostgreSQL major version such as 17$/m);
  });

  it("says how to get Docker when no engine answers", async function () {
    const result = await runCli(["build"], { env: { DOCKER_HOST: "unix:///tmp/pgfort-no-such-docker.sock" } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: no Docker engine answers at unix:\/\/\/tmp\/pgfort-no-such-docker.sock$/m);
    assert.match(result.stderr, /^hint: start the engine \(on Debian as root: bash scripts\/setup-docker.sh\) or set DOCKER_HOST$/m);
  });
});
