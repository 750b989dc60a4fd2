import assert from "node:assert/strict";
import { planArchiveSettings, planOverrides } from "../../../src/cluster/archive-settings";
import { parseConfig } from "../../../src/config/load";

describe("archive settings (conf.d/25-archive.conf)", function () {
  it("primaries and replicas hand WAL to the agent with the bound; restored servers and drills do not archive", function () {
    const { wal } = parseConfig("wal: { archiveTimeout: 30s, maxPending: 1g }");
    const primary = planArchiveSettings(wal, "primary");
    assert.deepEqual(primary, { archive_mode: true, archive_command: `/usr/local/bin/pgfort-archive-wal "%p" "%f" ${1024 ** 3}`, archive_timeout: "30s" });
    assert.deepEqual(planArchiveSettings(wal, "replica"), primary, "a replica archives once promoted");
    for (const role of ["restore", "verify", "backup"] as const) assert.deepEqual(planArchiveSettings(wal, role), { archive_mode: false });
    assert.deepEqual(planArchiveSettings(parseConfig("wal: { archive: false }").wal, "primary"), { archive_mode: false });
  });

  it("a restored server takes primary.settings without a user's own archiving; primaries and replicas take them all", function () {
    const settings = { archive_mode: "on", ARCHIVE_COMMAND: "pgbackrest archive-push %p", archive_library: "x", work_mem: "8MB", archive_timeout: "30s" };
    for (const role of ["primary", "replica"] as const) assert.deepEqual(planOverrides(settings, role), settings);
    for (const role of ["restore", "verify"] as const) assert.deepEqual(planOverrides(settings, role), { work_mem: "8MB", archive_timeout: "30s" });
  });

  it("has defaults: on, 60 s, 2 GiB; refuses a bound under four segments", function () {
    assert.deepEqual(parseConfig("").wal, { archive: true, archiveTimeout: 60_000, maxPending: 2 * 1024 ** 3 });
    assert.throws(() => parseConfig("wal: { maxPending: 16m }"), /at least 64MB/);
  });
});
