// When the parallel engine may read a data directory: the volume the job sees must be the running
// primary's. A real directory with a pg_control of our making; the server's answers faked.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { z } from "zod";
import { parallelUnavailable } from "../../../src/jobs/parallel-backup";
import type { JobRuntime } from "../../../src/jobs/runtime";

function control(systemIdentifier: bigint, checkpoint: bigint): Buffer {
  const bytes = Buffer.alloc(8192);
  bytes.writeBigUInt64LE(systemIdentifier, 0);
  bytes.writeBigUInt64LE(checkpoint, 32);
  return bytes;
}

function runtimeAnswering(systemIdentifier: string, checkpointLsn: string): JobRuntime {
  return {
    primary: {
      host: "t1-primary",
      query: async <Row>(_sql: string, row: z.ZodType<Row>) => [row.parse({ system_identifier: systemIdentifier, checkpoint_lsn: checkpointLsn })],
      close: async () => undefined,
    },
    queryIn: async () => [],
    cpus: 2,
    secretsDir: "/nonexistent",
    runProgram: async () => {
      throw new Error("no program runs here");
    },
    close: async () => undefined,
  };
}

describe("the parallel engine's check of the data volume", function () {
  let data: string;
  beforeEach(function () {
    data = mkdtempSync(path.join(os.tmpdir(), "pgfort-source-"));
    mkdirSync(path.join(data, "global"));
    mkdirSync(path.join(data, "pg_tblspc"));
  });
  afterEach(() => rmSync(data, { recursive: true, force: true }));

  it("reads the live primary's volume: same system identifier, same last checkpoint", async function () {
    writeFileSync(path.join(data, "global", "pg_control"), control(7446470213425790001n, 0x1_6b374d48n));
    assert.equal(await parallelUnavailable(runtimeAnswering("7446470213425790001", "1/6B374D48"), data), undefined);
  });

  it("says why not: no volume, another cluster's, a former primary's, tablespaces elsewhere", async function () {
    assert.match((await parallelUnavailable(runtimeAnswering("1", "0/1"), path.join(data, "missing"))) ?? "", /not mounted in this container/);
    writeFileSync(path.join(data, "global", "pg_control"), control(42n, 0x1000028n));
    assert.match((await parallelUnavailable(runtimeAnswering("7446470213425790001", "0/1000028"), data)) ?? "", /another cluster's \(system identifier 42, the primary's 7446470213425790001\)/);
    assert.match((await parallelUnavailable(runtimeAnswering("42", "0/2000028"), data)) ?? "", /not the running primary's \(its last checkpoint is 0\/1000028, the primary's 0\/2000028\)/);
    mkdirSync(path.join(data, "pg_tblspc", "16500"));
    assert.match((await parallelUnavailable(runtimeAnswering("42", "0/1000028"), data)) ?? "", /tablespaces outside its data volume \(pg_tblspc: 16500\)/);
  });
});
