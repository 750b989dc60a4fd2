import assert from "node:assert/strict";
import { mapSetting } from "../../../src/cluster/settings-in-force";
import { mapStats, parseOomKills } from "../../../src/cluster/usage";

const MIB = 1024 ** 2;

describe("status: a container's usage", function () {
  it("memory as docker stats shows it: usage less the inactive page cache (cgroup v1 and v2)", function () {
    const v1 = { memory_stats: { usage: 140 * MIB, limit: 256 * MIB, stats: { total_inactive_file: 80 * MIB, inactive_file: 79 * MIB, cache: 120 * MIB } } };
    assert.deepEqual(mapStats(v1), { memoryUsedBytes: 60 * MIB, memoryLimitBytes: 256 * MIB, cpuPercent: null });
    const v2 = { memory_stats: { usage: 100 * MIB, limit: 512 * MIB, stats: { inactive_file: 30 * MIB, anon: 50 * MIB } } };
    assert.equal(mapStats(v2).memoryUsedBytes, 70 * MIB);
    const noCache = { memory_stats: { usage: 10 * MIB, limit: 256 * MIB, stats: {} } };
    assert.equal(mapStats(noCache).memoryUsedBytes, 10 * MIB);
  });

  it("CPU % over the engine's two samples, 100 per CPU", function () {
    const stats = {
      memory_stats: {},
      cpu_stats: { cpu_usage: { total_usage: 1_500_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 18_000_000_000 },
    };
    assert.equal(mapStats(stats).cpuPercent, 50, "0.5 s of CPU over 2 s of both CPUs' time (1 s wall clock) is half a CPU");
    const percpu = { ...stats, cpu_stats: { cpu_usage: { total_usage: 1_500_000_000, percpu_usage: [1, 2] }, system_cpu_usage: 20_000_000_000 } };
    assert.equal(mapStats(percpu).cpuPercent, 50, "without online_cpus, the per-CPU list says how many");
  });

  it("a stopped container's empty answer, and nonsense, give unknown rather than zero", function () {
    const stopped = {
      memory_stats: {},
      cpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} },
      precpu_stats: { cpu_usage: { total_usage: 0 } },
    };
    assert.deepEqual(mapStats(stopped), { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null });
    assert.deepEqual(mapStats(undefined), { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null });
    assert.deepEqual(mapStats({ memory_stats: "x" }), { memoryUsedBytes: null, memoryLimitBytes: null, cpuPercent: null });
  });

  it("OOM kills from memory.oom_control (v1) or memory.events (v2); none readable is unknown", function () {
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
    assert.equal(parseOomKills("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"), 1);
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\n"), null, "kernels before 4.13 have no counter");
    assert.equal(parseOomKills(""), null);
  });
});

describe("status: settings in force", function () {
  const row = { name: "shared_buffers", value: "64MB", source: "configuration file", sourcefile: "/etc/postgresql/conf.d/10-memory.conf", sourceline: 4, pending_restart: false };

  it("names the conf.d file that set a value and what that file stands for", function () {
    assert.deepEqual(mapSetting(row), { name: "shared_buffers", value: "64MB", source: "configuration file", file: "10-memory.conf", line: 4, origin: "memory-limit", pendingRestart: false });
    assert.equal(mapSetting({ ...row, sourcefile: "/x/conf.d/15-parallelism.conf" }).origin, "cpu-limit");
    assert.equal(mapSetting({ ...row, sourcefile: "/x/conf.d/90-overrides.conf" }).origin, "settings");
    assert.equal(mapSetting({ ...row, sourcefile: "/x/conf.d/00-connections.conf" }).origin, "conf.d");
    assert.equal(mapSetting({ ...row, sourcefile: "/var/lib/postgresql/data/postgresql.auto.conf" }).origin, "alter-system");
  });

  it("a built-in default and a value from elsewhere have no file", function () {
    assert.deepEqual(mapSetting({ ...row, source: "default", sourcefile: null, sourceline: null }), { ...mapSetting(row), source: "default", file: null, line: null, origin: "default" });
    assert.equal(mapSetting({ ...row, source: "command line", sourcefile: null, sourceline: null }).origin, "other");
  });
});
