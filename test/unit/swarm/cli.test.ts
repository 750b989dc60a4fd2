// engine: swarm at the CLI, no Docker: the commands pgfort does not run on a swarm yet refuse it,
// naming the command and what does run; a bad --engine is a config error. The built CLI, as a user runs it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

// Compiled to dist/test/unit/swarm: the CLI is at dist/src/cli/index.js.
const CLI = path.resolve(__dirname, "..", "..", "..", "src", "cli", "index.js");

describe("engine: swarm at the command line", function () {
  this.timeout(60_000);
  let directory = "";
  const pgfort = (...args: string[]) =>
    // DOCKER_HOST at nothing: a refusal must come before any engine is asked.
    spawnSync(process.execPath, [CLI, ...args], { cwd: directory, encoding: "utf8", env: { ...process.env, DOCKER_HOST: "tcp://127.0.0.1:1" } });
  before(function () {
    directory = mkdtempSync(path.join(tmpdir(), "pgfort-swarm-cli-"));
    writeFileSync(path.join(directory, "pgfort.yaml"), "cluster: shop\nengine: swarm\nprimary: { node: n1 }\nreplicas: [ { name: r1, node: n2 } ]\n");
  });
  after(function () {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  for (const command of [["restore", "--as", "copy", "--latest"], ["tls", "rotate"], ["compose"], ["config", "apply"]]) {
    it(`refuses pgfort ${command.join(" ")} on a swarm, saying what runs there`, function () {
      const result = pgfort(...command);
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`pgfort ${command.slice(0, command[0] === "tls" || command[0] === "config" ? 2 : 1).join(" ")} does not work on a cluster with engine: swarm yet`));
      assert.match(result.stderr, /up, down, status, build, replica promote\|remove and backup run\|list\|verify\|prune/);
    });
  }

  it("replica add says a swarm's replicas are added in pgfort.yaml, pinned to a node, by up", function () {
    const add = pgfort("replica", "add", "r9");
    assert.equal(add.status, 1, add.stderr);
    assert.match(add.stderr, /on a swarm a replica is pinned to a node/);
    assert.match(add.stderr, /replicas: - \{ name: r9, node: <swarm node hostname> \}\) and run pgfort up/);
  });

  it("lets backup list through: it only reads the target", function () {
    const list = pgfort("backup", "list", "--target", `file://${path.join(directory, "none")}`);
    assert.doesNotMatch(list.stderr, /does not work on a cluster with engine: swarm/);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /no backups of cluster shop/);
  });

  it("lets up through to the engine (here: none answers), and refuses an engine that is not one", function () {
    const up = pgfort("up");
    assert.notEqual(up.status, 0);
    assert.doesNotMatch(up.stderr, /does not work on a cluster with engine: swarm/);
    assert.match(up.stderr, /no Docker engine answers/);
    const bad = pgfort("up", "--engine", "kubernetes");
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--engine kubernetes is not an engine/);
  });
});
