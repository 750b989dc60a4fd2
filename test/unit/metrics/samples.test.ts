import assert from "node:assert/strict";
import { lsnDistanceBytes, parseLsn } from "../../../src/metrics/lsn";
import type { ServerReading } from "../../../src/metrics/queries";
import { mergeStandbys, serverSamples, type Sample } from "../../../src/metrics/samples";
import { checkpointsQuery } from "../../../src/metrics/queries";
import { clusterNetworkServers } from "../../../src/metrics/servers";

function reading(overrides: Partial<ServerReading> = {}): ServerReading {
  return {
    facts: { version_num: 150010, in_recovery: false, current_lsn: "0/3000100" },
    databases: [
      { datname: "app", size_bytes: 8_000_000, xid_age: 1234 },
      { datname: "postgres", size_bytes: 7_500_000, xid_age: 1200 },
    ],
    activity: [
      { datname: "app", state: "idle", count: 3 },
      { datname: "app", state: "active", count: 1 },
      { datname: "app", state: null, count: 1 },
    ],
    replication: [{ application_name: "r1", state: "streaming", replay_lsn: "0/3000000", replay_lag_seconds: 0.25 }],
    slots: [
      { slot_name: "r1", restart_lsn: "0/2000000" },
      { slot_name: "never_used", restart_lsn: null },
    ],
    checkpoints: { timed: 5, requested: 2, write_time_ms: 120, sync_time_ms: 7, buffers: 300 },
    archiver: { archived: 4, failed: 1, last_archive_age_seconds: 12.5 },
    ...overrides,
  };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((sample) => sample.name === name && JSON.stringify(sample.labels) === JSON.stringify(labels))?.value;
}

describe("metrics: WAL positions", function () {
  it("parses both halves of an LSN into 64 bits", function () {
    assert.equal(parseLsn("0/0"), 0n);
    assert.equal(parseLsn("16/B374D848"), (0x16n << 32n) + 0xb374d848n);
    assert.equal(parseLsn("FFFFFFFF/FFFFFFFF"), 2n ** 64n - 1n);
  });

  it("measures distances across the 4 GiB boundary, exactly where a float8 would not", function () {
    assert.equal(lsnDistanceBytes("0/FFFFFF00", "1/100"), 0x200);
    assert.equal(lsnDistanceBytes("FFFFF/FFFFFFF0", "100000/10"), 0x20);
    assert.equal(lsnDistanceBytes("0/3000100", "0/3000000"), 0, "a position ahead is not behind");
  });

  it("refuses text that is not an LSN", function () {
    for (const text of ["", "16", "16/", "G/1", "1/2/3", "123456789/0"]) assert.throws(() => parseLsn(text), /not a WAL position/, text);
  });
});

describe("metrics: a server's reading as samples", function () {
  it("a server that did not answer is pg_up 0 and nothing else but the scrape's duration", function () {
    assert.deepEqual(serverSamples({ node: "r1", reading: null, durationSeconds: 5 }), [
      { name: "pg_up", labels: { node: "r1" }, value: 0 },
      { name: "pgfort_database_scrape_duration_seconds", labels: { node: "r1" }, value: 5 },
    ]);
  });

  it("maps a primary's rows to postgres_exporter's names, every series labelled with the node", function () {
    const samples = serverSamples({ node: "primary", reading: reading(), durationSeconds: 0.01 });
    assert.ok(samples.every((sample) => sample.labels["node"] === "primary"));
    assert.equal(value(samples, "pg_up", { node: "primary" }), 1);
    assert.equal(value(samples, "pg_replication_is_replica", { node: "primary" }), 0);
    assert.equal(value(samples, "pg_database_size_bytes", { node: "primary", datname: "app" }), 8_000_000);
    assert.equal(value(samples, "pgfort_database_xid_age", { node: "primary", datname: "postgres" }), 1200);
    assert.equal(value(samples, "pg_replication_lag_seconds", { node: "primary", application_name: "r1" }), 0.25);
    assert.equal(value(samples, "pg_stat_replication_pg_wal_lsn_diff", { node: "primary", application_name: "r1" }), 0x100);
    assert.equal(value(samples, "pgfort_replication_slot_retained_wal_bytes", { node: "primary", slot_name: "r1" }), 0x1000100);
    assert.equal(samples.filter((sample) => sample.labels["slot_name"] === "never_used").length, 0, "a slot that never reserved WAL holds none");
    assert.equal(value(samples, "pg_stat_bgwriter_checkpoints_timed_total", { node: "primary" }), 5);
    assert.equal(value(samples, "pg_stat_bgwriter_checkpoints_req_total", { node: "primary" }), 2);
    assert.equal(value(samples, "pg_stat_bgwriter_checkpoint_write_time_total", { node: "primary" }), 120);
    assert.equal(value(samples, "pg_stat_archiver_archived_count", { node: "primary" }), 4);
    assert.equal(value(samples, "pg_stat_archiver_failed_count", { node: "primary" }), 1);
    assert.equal(value(samples, "pg_stat_archiver_last_archive_age", { node: "primary" }), 12.5);
  });

  it("counts connections by database and state, with a zero series for every state and database", function () {
    const samples = serverSamples({ node: "primary", reading: reading(), durationSeconds: 0 }).filter((sample) => sample.name === "pg_stat_activity_count");
    assert.equal(samples.length, 2 * 6, "six states for each of two databases");
    assert.equal(value(samples, "pg_stat_activity_count", { node: "primary", datname: "app", state: "idle" }), 3);
    assert.equal(value(samples, "pg_stat_activity_count", { node: "primary", datname: "app", state: "active" }), 1);
    assert.equal(value(samples, "pg_stat_activity_count", { node: "primary", datname: "postgres", state: "idle" }), 0);
    assert.equal(samples.reduce((sum, sample) => sum + sample.value, 0), 4, "a background process (state NULL) is no connection");
  });

  it("a standby measures its own slots against its replay position and reports no lag of its own", function () {
    const standby = reading({ facts: { version_num: 150010, in_recovery: true, current_lsn: "0/2000010" }, replication: [] });
    const samples = serverSamples({ node: "r1", reading: standby, durationSeconds: 0 });
    assert.equal(value(samples, "pg_replication_is_replica", { node: "r1" }), 1);
    assert.equal(value(samples, "pgfort_replication_slot_retained_wal_bytes", { node: "r1", slot_name: "r1" }), 0x10);
    assert.equal(samples.filter((sample) => sample.name.startsWith("pg_replication_lag")).length, 0);
    const noPosition = serverSamples({ node: "r1", reading: { ...standby, facts: { ...standby.facts, current_lsn: null } }, durationSeconds: 0 });
    assert.equal(noPosition.filter((sample) => sample.name === "pgfort_replication_slot_retained_wal_bytes").length, 0);
  });

  it("no archiver age before the first archived file", function () {
    const samples = serverSamples({ node: "primary", reading: reading({ archiver: { archived: 0, failed: 0, last_archive_age_seconds: null } }), durationSeconds: 0 });
    assert.equal(value(samples, "pg_stat_archiver_archived_count", { node: "primary" }), 0);
    assert.equal(samples.filter((sample) => sample.name === "pg_stat_archiver_last_archive_age").length, 0);
  });
});

describe("metrics: standby lag", function () {
  it("a caught-up streaming standby (replay_lag NULL, no bytes behind) is 0 s behind; a disconnected one has no seconds", function () {
    assert.deepEqual(mergeStandbys([{ application_name: "r1", state: "streaming", replay_lsn: "0/10", replay_lag_seconds: null }], "0/10"), [
      { name: "r1", lagBytes: 0, lagSeconds: 0 },
    ]);
    assert.deepEqual(mergeStandbys([{ application_name: "r2", state: "catchup", replay_lsn: null, replay_lag_seconds: null }], "0/10"), [
      { name: "r2", lagBytes: null, lagSeconds: null },
    ]);
    assert.deepEqual(mergeStandbys([{ application_name: "r3", state: "streaming", replay_lsn: "0/8", replay_lag_seconds: null }], "0/10"), [
      { name: "r3", lagBytes: 8, lagSeconds: null },
    ]);
  });

  it("two standbys under one application_name keep the one further behind", function () {
    const rows = [
      { application_name: "walreceiver", state: "streaming", replay_lsn: "0/100", replay_lag_seconds: 2 },
      { application_name: "walreceiver", state: "streaming", replay_lsn: "0/10", replay_lag_seconds: 1 },
    ];
    assert.deepEqual(mergeStandbys(rows, "0/100"), [{ name: "walreceiver", lagBytes: 0xf0, lagSeconds: 2 }]);
  });
});

describe("metrics: checkpoint counters across majors", function () {
  it("reads pg_stat_bgwriter before 17 and pg_stat_checkpointer from 17 on", function () {
    assert.match(checkpointsQuery(150010), /FROM pg_stat_bgwriter$/);
    assert.match(checkpointsQuery(170002), /FROM pg_stat_checkpointer$/);
  });
});

describe("metrics: the agent's servers", function () {
  it("names each by its node, reached on the cluster network at 5432", function () {
    assert.deepEqual(clusterNetworkServers("app", ["app-primary", "app-r1", "other"]), [
      { node: "primary", host: "app-primary", port: 5432 },
      { node: "r1", host: "app-r1", port: 5432 },
      { node: "other", host: "other", port: 5432 },
    ]);
  });
});
