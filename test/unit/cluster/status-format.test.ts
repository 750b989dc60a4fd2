import assert from "node:assert/strict";
import type { SettingInForce } from "../../../src/cluster/settings-in-force";
import { describeOrigin, formatSettings, formatUsageTable, type SettingsOfNode } from "../../../src/cli/status-usage";
import { describeCollation } from "../../../src/cli/cluster";

const MIB = 1024 ** 2;

function setting(name: string, value: string, file: string | null, origin: SettingInForce["origin"], line: number | null = null): SettingInForce {
  return { name, value, source: file ? "configuration file" : "default", file, line, origin, pendingRestart: false };
}

const PRIMARY: SettingsOfNode = {
  node: "primary",
  role: "primary",
  limits: { memoryBytes: 1024 * MIB, cpus: 1.5 },
  settings: [setting("shared_buffers", "256MB", "10-memory.conf", "memory-limit", 4), setting("work_mem", "8MB", "90-overrides.conf", "settings", 3), setting("max_parallel_workers", "1", "15-parallelism.conf", "cpu-limit", 3)],
};

describe("status: usage and settings as text", function () {
  it("one usage row per container, the agent's included, unknowns as dashes", function () {
    const usage = { memoryUsedBytes: 42 * MIB, memoryLimitBytes: 256 * MIB, cpuPercent: 3.25, oomKills: 1, lastExitOomKilled: false, restarts: 2 };
    assert.deepEqual(
      formatUsageTable([
        { container: "app-primary", usage },
        { container: "app-agent", usage: { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null, oomKills: null, lastExitOomKilled: true, restarts: 5 } },
      ]),
      [
        "CONTAINER    MEMORY USED / LIMIT   CPU   OOM KILLS                RESTARTS",
        "app-primary  42.0 MiB / 256.0 MiB  3.3%  1                        2",
        "app-agent    -                     -     - (last exit: OOM kill)  5",
      ],
    );
  });

  it("says which limit a tuned value came from, and which key of pgfort.yaml an override", function () {
    const [sharedBuffers, workMem, parallel] = PRIMARY.settings ?? [];
    assert.ok(sharedBuffers && workMem && parallel);
    assert.equal(describeOrigin(sharedBuffers, PRIMARY), "10-memory.conf (tuned to the 1.0 GiB memory limit)");
    assert.equal(describeOrigin(sharedBuffers, { ...PRIMARY, limits: { memoryBytes: null, cpus: null } }), "10-memory.conf (tuned to the host's memory: no memory limit)");
    assert.equal(describeOrigin(workMem, PRIMARY), "90-overrides.conf (primary.settings in pgfort.yaml)");
    assert.equal(describeOrigin(workMem, { ...PRIMARY, node: "r1", role: "replica" }), "90-overrides.conf (primary.settings or replicas[r1].settings in pgfort.yaml)");
    assert.equal(describeOrigin(parallel, PRIMARY), "15-parallelism.conf (tuned to the 1.5 CPU limit)");
    assert.equal(describeOrigin(setting("max_connections", "100", null, "default"), PRIMARY), "PostgreSQL's built-in default");
  });

  it("a node set like an earlier one takes one line; a silent one says so", function () {
    const replica = { ...PRIMARY, node: "r1", role: "replica", settings: PRIMARY.settings?.filter((entry) => entry.origin !== "settings") ?? null };
    const lines = formatSettings([
      { ...PRIMARY, settings: replica.settings },
      replica,
      { ...PRIMARY, node: "r2", role: "replica", settings: null },
    ]);
    assert.deepEqual(lines, [
      "settings in force on primary:",
      "  SETTING               VALUE  SET BY",
      "  shared_buffers        256MB  10-memory.conf (tuned to the 1.0 GiB memory limit)",
      "  max_parallel_workers  1      15-parallelism.conf (tuned to the 1.5 CPU limit)",
      "settings in force on r1: as on primary",
      "settings in force on r2: unknown (the server does not answer)",
    ]);
  });
});

describe("up's line for a primary whose image changed", function () {
  it("says the collation check passed, or what --reindex rebuilt; nothing when the image did not change", function () {
    assert.equal(describeCollation(undefined), "");
    assert.equal(describeCollation({ mismatches: [], reindexed: 0 }), " (new image: collation versions match)");
    assert.equal(describeCollation({ mismatches: [{ database: "app" }, { database: "shop" }], reindexed: 4 }), " (new image: rebuilt 4 index(es) in app, shop, collation versions refreshed)");
  });
});
