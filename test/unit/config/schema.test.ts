import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/load";
import { parseSize } from "../../../src/config/schema";
import { ConfigError } from "../../../src/errors";

function rejects(yaml: string, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(yaml, "pgfort.yaml"),
    (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
  );
}

describe("config", function () {
  it("has built-in defaults that work with no file", function () {
    const config = parseConfig("");
    assert.equal(config.cluster, "pgfort");
    assert.equal(config.image.tag, "pgfort/postgres:17");
    assert.equal(config.image.pgMajor, 17);
    assert.equal(config.image.base, "debian:trixie-slim");
    // 15 stays supported, on the Debian release that packages it.
    assert.deepEqual([parseConfig("image: { pgMajor: 15 }").image.tag, parseConfig("image: { pgMajor: 15 }").image.base], ["pgfort/postgres:15", "debian:bookworm-slim"]);
    assert.equal(config.primary.port, 5432);
    assert.equal(config.primary.bind, "127.0.0.1");
    assert.equal(config.primary.resources.memory, 1024 ** 3);
    assert.equal(config.primary.resources.swap, 0);
    assert.equal(config.backups.target, "file://./backups");
    assert.equal(config.backups.compression, "zstd");
    assert.deepEqual(config.replicas, []);
    assert.equal(config.backups.retention.keepLast, 3);
  });

  it("parses the example of DESIGN.md", function () {
    const config = parseConfig(`
cluster: app
image: { tag: pgfort/postgres:15, pgMajor: 15, base: debian:bookworm-slim, extensions: [plpython3] }
primary:
  port: 5432
  resources: { memory: 1g, swap: 0, swappiness: 0, cpus: 1.5, cpuShares: 1024, blkioWeight: 500, pids: 512, shm: 256m }
  settings: { max_connections: 100 }
replicas: [ { name: r1 } ]
backups:
  target: file://./backups
  compression: zstd
  resources: { memory: 512m, cpus: 2 }
  jobs:
    - { name: nightly, kind: logical, schedule: "0 3 * * *", databases: [app] }
    - { name: weekly-base, kind: physical, schedule: "0 4 * * 0" }
  retention: { keepLast: 3, daily: 7, weekly: 4, monthly: 6 }
`);
    assert.equal(config.cluster, "app");
    assert.equal(config.primary.resources.shm, 256 * 1024 ** 2);
    assert.equal(config.primary.resources.cpus, 1.5);
    assert.equal(config.backups.resources.memory, 512 * 1024 ** 2);
    assert.equal(config.backups.jobs[1]?.databases.length, 0);
    assert.equal(config.primary.settings["max_connections"], 100);
  });

  it("rejects unknown keys, naming their path", function () {
    rejects("primay: {}", /unknown key\(s\) primay/);
    rejects("primary: { resources: { memroy: 1g } }", /primary\.resources: unknown key\(s\) memroy/);
    rejects("backups: { jobs: [ { name: a, kind: logical, schedule: '* * * * *', when: now } ] }", /backups\.jobs\.0: unknown key/);
  });

  it("rejects wrong sizes and types, naming the path and the expected form", function () {
    rejects("primary: { resources: { memory: lots } }", /primary\.resources\.memory: expected a size like 512m or 1g, got "lots"/);
    rejects("primary: { port: http }", /primary\.port: /);
    rejects("cluster: My_Cluster", /cluster: use lowercase letters/);
    rejects("backups: { compression: gzip }", /backups\.compression: /);
    rejects("backups: { target: ftp://x }", /backups\.target: use file:\/\/PATH or s3:\/\/bucket\/prefix/);
  });

  it("rejects a bad cron expression with the job's path", function () {
    rejects("backups: { jobs: [ { name: nightly, kind: logical, schedule: 'every night' } ] }", /backups\.jobs\.0\.schedule: job nightly: "every night" is not a cron expression/);
  });

  it("rejects duplicate replica and job names", function () {
    rejects("replicas: [ { name: r1 }, { name: r1 } ]", /replicas\.1\.name: r1 is used twice/);
    rejects("replicas: [ { name: primary } ]", /replicas\.0\.name/);
  });

  it("reports invalid YAML with its line", function () {
    rejects("cluster: app\nprimary: [\n", /not valid YAML at line/);
  });
});

describe("parseSize", function () {
  it("reads Docker-style sizes", function () {
    assert.equal(parseSize("512m"), 512 * 1024 ** 2);
    assert.equal(parseSize("1g"), 1024 ** 3);
    assert.equal(parseSize("1.5G"), 1.5 * 1024 ** 3);
    assert.equal(parseSize("64kb"), 64 * 1024);
    assert.equal(parseSize("100"), 100);
    assert.equal(parseSize(0), 0);
    assert.equal(parseSize("-1m"), undefined);
    assert.equal(parseSize("1x"), undefined);
    assert.equal(parseSize(1.5), undefined);
  });
});
