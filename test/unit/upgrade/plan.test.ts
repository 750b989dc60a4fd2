// The planning of `pgfort upgrade`: what is refused, what the pre-check finds, where the new WAL
// starts, the private servers of the move, and the comparison of row counts. Pure.
import assert from "node:assert/strict";
import { applyMajorState, MajorStateSchema, type MajorState } from "../../../src/config/major-state";
import { parseConfig } from "../../../src/config/load";
import { UpgradeError } from "../../../src/errors";
import { planNode, primarySpec } from "../../../src/cluster/plan";
import { checkUpgradeRequest, compareMovedRows, evaluatePrecheck, nextWalStart, upgradeConf } from "../../../src/upgrade/plan";
import { planPrivateServer, privateServerConf } from "../../../src/cluster/private-server";
import { generationVolumes } from "../../../src/upgrade/rollback";
import { formatMajorLines } from "../../../src/cli/cluster";
import { parseWalFileName } from "../../../src/wal/names";

const upgraded: MajorState = {
  current: { major: 17, tag: "pgfort/postgres:17", volumeSuffix: "-pg17" },
  previous: { major: 15, tag: "pgfort/postgres:15", volumeSuffix: "", volumes: ["app-primary-data", "app-primary-wal"] },
  upgradedAt: "2026-12-03T07:00:00.000Z",
  downtimeMs: 12_345,
  highestTimeline: 2,
};

describe("upgrade planning", function () {
  describe("checkUpgradeRequest", function () {
    const base = { currentMajor: 15, to: 17, state: undefined, topology: { primary: "primary" } };

    it("lets 15 go to 17 on volumes suffixed -pg17", function () {
      assert.deepEqual(checkUpgradeRequest(base), { volumeSuffix: "-pg17" });
    });

    it("refuses an unsupported, equal or older major, an unfinalized upgrade and a promoted topology, saying what to do", function () {
      const refused = (request: Parameters<typeof checkUpgradeRequest>[0], message: RegExp, hint: RegExp) =>
        assert.throws(() => checkUpgradeRequest(request), (error: unknown) => error instanceof UpgradeError && message.test(error.message) && hint.test(error.hint));
      refused({ ...base, to: 16 }, /to PostgreSQL 15 or 17, not 16/, /--to 17/);
      refused({ ...base, currentMajor: 17 }, /runs PostgreSQL 17 already/, /nothing to do/);
      refused({ ...base, currentMajor: 17, to: 15, state: upgraded }, /cannot be moved down/, /--rollback/);
      refused({ ...base, currentMajor: 15, state: { ...upgraded, current: { ...upgraded.current, major: 15 } } }, /not finalized/, /--finalize/);
      refused({ ...base, topology: { primary: "r1", promotedAt: "x" } }, /promoted replica r1/, /logical backup/);
    });
  });

  describe("evaluatePrecheck", function () {
    const facts = {
      sourceVersionNum: 150014,
      currentMajor: 15,
      installed: [{ database: "app", extension: "plpython3u" }],
      available: new Set(["plpython3u", "plpgsql", "amcheck"]),
      freeBytes: 10 * 1024 ** 3,
      databaseBytes: 1024 ** 3,
      replicas: [{ name: "app-r1", streaming: true }],
    };

    it("passes with the extensions available and room for the new data, and notes each replica", function () {
      const check = evaluatePrecheck(facts);
      assert.deepEqual(check.problems, []);
      assert.equal(check.neededBytes, Math.ceil(1024 ** 3 * 1.1) + 256 * 1024 ** 2);
      assert.match(check.notes[0] ?? "", /app-r1: re-created on the new major/);
    });

    it("names a missing extension with its database, too little disk, and a server of another major", function () {
      const check = evaluatePrecheck({ ...facts, sourceVersionNum: 160002, installed: [...facts.installed, { database: "gis", extension: "postgis" }], freeBytes: 512 * 1024 ** 2 });
      assert.equal(check.problems.length, 3);
      assert.match(check.problems.join("\n"), /runs PostgreSQL 16, the cluster's state says 15/);
      assert.match(check.problems.join("\n"), /postgis \(database gis\): add their Debian packages to image.extensions/);
      assert.match(check.problems.join("\n"), /512 MiB free .* needs about 1382 MiB/);
    });
  });

  describe("nextWalStart", function () {
    it("starts after the old server's segment on a timeline above every one the cluster used", function () {
      const start = nextWalStart({ lsn: "0/3A000060", timeline: 1 }, 1, 15);
      assert.deepEqual(start, { walFile: "00000002000000000000003B", timeline: 2, history: "1\t0/3B000000\tpgfort upgrade from PostgreSQL 15" });
      assert.deepEqual(parseWalFileName(start.walFile)?.segment, 0x3bn);
      // A rollback left timeline 2 in the archive: the next upgrade takes 3.
      assert.equal(nextWalStart({ lsn: "1/FF000000", timeline: 1 }, 2, 15).walFile, "000000030000000200000000");
      assert.equal(nextWalStart({ lsn: "0/10", timeline: 4 }, 2, 15).timeline, 5);
    });
  });

  describe("private servers", function () {
    it("are the node's server with another name, no network, no port, their own conf.d, and zz-private.conf that shuts TCP and archiving", function () {
      const config = parseConfig("cluster: app\nimage: { pgMajor: 15 }\nprimary: { port: 5544 }");
      const facts = { cpus: 2, memoryBytes: 4 * 1024 ** 3, imageId: "sha256:x", defaultConfD: new Map<string, string>() };
      const plan = planNode(config, "/state", facts, primarySpec(config));
      const create = planPrivateServer(plan, { name: "app-upgrade-source", confDir: "/state/upgrade/source/conf.d", labels: { "pgfort.role": "restore" } });
      assert.equal(create.name, "app-upgrade-source");
      assert.equal(create.Hostname, "app-upgrade-source", "its socket directory in the socket volume is named by it");
      assert.equal(create.HostConfig?.NetworkMode, "none");
      assert.deepEqual(create.HostConfig?.PortBindings, {});
      assert.deepEqual(create.HostConfig?.Binds, ["/state/upgrade/source/conf.d:/etc/postgresql/conf.d:ro"]);
      assert.deepEqual(create.HostConfig?.Mounts?.slice(0, 2).map((mount) => mount.Source), ["app-primary-data", "app-primary-wal"]);
      assert.equal(create.Image, "pgfort/postgres:15");
      assert.match(upgradeConf("source"), /^listen_addresses = ''$/m);
      assert.match(upgradeConf("source"), /^archive_mode = off$/m);
      assert.doesNotMatch(upgradeConf("source"), /synchronous_commit/);
      assert.match(upgradeConf("incoming"), /^synchronous_commit = off$/m);
      // A collation check keeps the node's host name (its WAL spool, which the agent serves) and its archiving.
      const check = planPrivateServer(plan, { name: "app-primary-collation-check", hostname: "app-primary", confDir: "/c", labels: {} });
      assert.equal(check.Hostname, "app-primary");
      assert.doesNotMatch(privateServerConf({ archive: true }), /archive_mode/);
    });
  });

  describe("compareMovedRows", function () {
    it("passes equal counts and names every difference", function () {
      const source = { app: { "public.a": 10, "public.b": 0 }, postgres: {} };
      assert.deepEqual(compareMovedRows(source, { app: { "public.a": 10, "public.b": 0 }, postgres: {} }), { ok: true, tables: 2, rows: 10, differences: [] });
      const wrong = compareMovedRows(source, { app: { "public.a": 9, "public.c": 1 } });
      assert.equal(wrong.ok, false);
      assert.deepEqual(wrong.differences, ["app.public.a: 10 rows on the old server, 9 on the new", "app.public.b: 0 rows on the old server, missing on the new", "app.public.c: only on the new server", "database postgres is missing on the new server"]);
    });
  });

  describe("the major state", function () {
    it("decides the image and the volumes once upgraded, and keeps the config's own base", function () {
      const image = parseConfig("image: { pgMajor: 15 }").image;
      assert.equal(image.volumeSuffix, "");
      assert.deepEqual(applyMajorState(image, undefined), image);
      const after = applyMajorState(image, upgraded);
      assert.equal(after.pgMajor, 17);
      assert.equal(after.tag, "pgfort/postgres:17");
      assert.equal(after.base, "debian:trixie-slim");
      assert.equal(after.volumeSuffix, "-pg17");
      const ownBase = parseConfig("image: { pgMajor: 15, base: mybase:1 }").image;
      assert.equal(applyMajorState(ownBase, upgraded).base, "mybase:1");
      assert.equal(MajorStateSchema.safeParse({ current: upgraded.current }).success, false, "highestTimeline is required");
      assert.throws(() => parseConfig("image: { volumeSuffix: -pg17 }"), /volumeSuffix/, "the config cannot set it");
    });

    it("status says what runs, what is kept, and when the config says another major", function () {
      const config = parseConfig("cluster: app");
      assert.deepEqual(formatMajorLines({ config, major: undefined, configuredMajor: 17 }), []);
      const lines = formatMajorLines({ config, major: upgraded, configuredMajor: 15 });
      assert.match(lines[0] ?? "", /PostgreSQL 17: upgraded from 15 at 2026-12-03T07:00:00.000Z, writes stopped 12.3 s; .*--rollback goes back, --finalize removes them/);
      assert.match(lines[1] ?? "", /the config says image.pgMajor: 15, the cluster runs 17 .*set image.pgMajor: 17/);
      assert.deepEqual(formatMajorLines({ config, major: { ...upgraded, previous: undefined }, configuredMajor: 17 }), []);
    });

    it("rollback finds exactly the generation's data and WAL volumes", function () {
      const volumes = ["app-primary-data", "app-primary-wal", "app-primary-data-pg17", "app-primary-wal-pg17", "app-r1-data-pg17", "app-sockets", "other-primary-data-pg17", "app-restore-x-data"];
      assert.deepEqual(generationVolumes(volumes, "app", "-pg17"), ["app-primary-data-pg17", "app-primary-wal-pg17", "app-r1-data-pg17"]);
      assert.deepEqual(generationVolumes(volumes, "app", ""), [], "the unsuffixed generation is never matched by pattern");
    });
  });
});
