import assert from "node:assert/strict";
import { tuneCpu, tuneMemory } from "../../../src/cluster/tuning";

const MB = 1024 ** 2;
const GB = 1024 ** 3;

describe("tuning", function () {
  it("gives shared_buffers 25% and effective_cache_size 75% of the memory limit", function () {
    const tuned = tuneMemory({ memoryBytes: 512 * MB, cpus: 1, maxConnections: 100 });
    assert.equal(tuned["shared_buffers"], "128MB");
    assert.equal(tuned["effective_cache_size"], "384MB");
    assert.equal(tuneMemory({ memoryBytes: 8 * GB, cpus: 4, maxConnections: 100 })["shared_buffers"], "2048MB");
  });

  it("sizes work_mem from what shared_buffers leaves and the connection count", function () {
    // (1024 - 256) MB / (3 × 100) = 2.56 MB = 2621 kB
    assert.equal(tuneMemory({ memoryBytes: 1 * GB, cpus: 1, maxConnections: 100 })["work_mem"], "2621kB");
    // more connections, less each
    assert.equal(tuneMemory({ memoryBytes: 1 * GB, cpus: 1, maxConnections: 400 })["work_mem"], "1024kB");
    assert.equal(tuneMemory({ memoryBytes: 16 * GB, cpus: 1, maxConnections: 50 })["work_mem"], "83886kB");
  });

  it("keeps maintenance_work_mem between 64MB and 2GB", function () {
    assert.equal(tuneMemory({ memoryBytes: 256 * MB, cpus: 1, maxConnections: 10 })["maintenance_work_mem"], "64MB");
    assert.equal(tuneMemory({ memoryBytes: 4 * GB, cpus: 1, maxConnections: 10 })["maintenance_work_mem"], "256MB");
    assert.equal(tuneMemory({ memoryBytes: 64 * GB, cpus: 1, maxConnections: 10 })["maintenance_work_mem"], "2048MB");
  });

  it("never goes below workable minimums on tiny limits", function () {
    const tuned = tuneMemory({ memoryBytes: 32 * MB, cpus: 1, maxConnections: 1000 });
    assert.equal(tuned["shared_buffers"], "16MB");
    assert.equal(tuned["work_mem"], "1024kB");
  });

  it("derives parallel workers from the CPU limit", function () {
    assert.deepEqual(tuneCpu({ memoryBytes: GB, cpus: 1, maxConnections: 100 }), {
      max_worker_processes: 8,
      max_parallel_workers: 1,
      max_parallel_workers_per_gather: 0,
      max_parallel_maintenance_workers: 0,
    });
    assert.deepEqual(tuneCpu({ memoryBytes: GB, cpus: 1.5, maxConnections: 100 })["max_parallel_workers"], 1);
    const big = tuneCpu({ memoryBytes: GB, cpus: 16, maxConnections: 100 });
    assert.equal(big["max_parallel_workers"], 16);
    assert.equal(big["max_parallel_workers_per_gather"], 8);
    assert.equal(big["max_worker_processes"], 20);
  });
});
