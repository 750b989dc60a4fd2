import assert from "node:assert/strict";
import { parseCpuLimit, parseMemoryLimit, processStartTime, renderSettings, scratchSettings } from "../../../src/jobs/scratch-settings";

const MiB = 1024 * 1024;

describe("scratch server settings", function () {
  it("reads the container's memory limit from cgroup v2 or v1, and unlimited as null", function () {
    assert.equal(parseMemoryLimit("536870912\n"), 512 * MiB);
    assert.equal(parseMemoryLimit("max\n"), null);
    assert.equal(parseMemoryLimit(undefined), null);
    assert.equal(parseMemoryLimit("9223372036854771712\n"), null, "cgroup v1's 'unlimited'");
    assert.equal(parseMemoryLimit("0"), null);
  });

  it("reads CPUs from cpu.max, rounded up", function () {
    assert.equal(parseCpuLimit("100000 100000\n"), 1);
    assert.equal(parseCpuLimit("150000 100000\n"), 2);
    assert.equal(parseCpuLimit("max 100000\n"), null);
    assert.equal(parseCpuLimit(undefined), null);
  });

  it("sizes memory to the job's limit, within bounds, and turns durability off for a throwaway copy", function () {
    const small = scratchSettings({ memoryBytes: 512 * MiB, fallbackBytes: 64 * 1024 * MiB, jobs: 2 });
    assert.equal(small["shared_buffers"], "32MB");
    assert.equal(small["maintenance_work_mem"], "32MB", "1/8 of the limit shared by 2 amcheck jobs");
    assert.equal(small["max_connections"], "10");
    assert.equal(small["fsync"], "off");
    assert.equal(small["full_page_writes"], "off");
    assert.equal(small["max_parallel_workers_per_gather"], "0");
    assert.equal(small["listen_addresses"], undefined, "scratch-start fixes the network settings itself");
    const tiny = scratchSettings({ memoryBytes: 64 * MiB, fallbackBytes: 0, jobs: 1 });
    assert.equal(tiny["shared_buffers"], "16MB");
    assert.equal(tiny["maintenance_work_mem"], "16MB");
    const unlimited = scratchSettings({ memoryBytes: null, fallbackBytes: 64 * 1024 * MiB, jobs: 1 });
    assert.equal(unlimited["shared_buffers"], "256MB", "the machine's memory, capped");
  });

  it("renders config lines with quotes doubled", function () {
    assert.equal(renderSettings({ fsync: "off", cluster_name: "it's" }), "fsync = 'off'\ncluster_name = 'it''s'");
  });

  it("takes a process's start time from /proc/PID/stat, whatever its name holds", function () {
    const stat = "4242 (node (a) b) S 1 4242 4242 0 -1 4194560 2000 0 0 0 10 5 0 0 20 0 11 0 987654 1000000 5000";
    assert.equal(processStartTime(stat), "987654");
  });
});
