// `pgfort monitoring rules` as a user runs it: the built CLI, a config file, no Docker.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";

// Compiled to dist/test/unit/monitoring: the CLI is at dist/src/cli/index.js.
const CLI = path.resolve(__dirname, "..", "..", "..", "src", "cli", "index.js");

function pgfort(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // DOCKER_HOST at nothing: the command must not need an engine.
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: "tcp://127.0.0.1:1" } });
}

describe("pgfort monitoring rules", function () {
  this.timeout(30_000);
  let directory = "";
  before(function () {
    directory = mkdtempSync(path.join(tmpdir(), "pgfort-monitoring-cli-"));
    writeFileSync(path.join(directory, "pgfort.yaml"), 'cluster: shop\nbackups: { jobs: [{ name: nightly, kind: logical, schedule: "0 3 * * *" }] }\n');
    writeFileSync(path.join(directory, "bad.yaml"), 'backups: { jobs: [{ name: leap, kind: logical, schedule: "0 0 29 2 1" }] }\n');
  });
  after(function () {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it("prints YAML, and the same rules as JSON with --json", function () {
    const config = path.join(directory, "pgfort.yaml");
    const yaml = pgfort("monitoring", "rules", "--config", config);
    const json = pgfort("monitoring", "rules", "--config", config, "--json");
    assert.equal(yaml.status, 0, yaml.stderr);
    assert.equal(json.status, 0, json.stderr);
    assert.match(yaml.stdout, /^# Prometheus alerting rules for pgfort cluster shop/);
    assert.deepEqual(parse(yaml.stdout), JSON.parse(json.stdout));
    const alerts = (JSON.parse(json.stdout) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    assert.ok(alerts.includes("PgfortBackupMissing") && alerts.includes("PostgresXidWraparoundNear"), alerts.join(", "));
  });

  it("says what is wrong with a schedule it cannot alert on, exit code 2", function () {
    const result = pgfort("monitoring", "rules", "--config", path.join(directory, "bad.yaml"));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /error: backup job leap: .*less than twice/);
    assert.match(result.stderr, /hint: /);
  });
});
