import assert from "node:assert/strict";
import { parseChecksumFailures } from "../../../src/backup/corrupt-pages";

describe("corrupt pages named by pg_basebackup", function () {
  it("reads each file and block of pg_basebackup's checksum failures once, segments included", function () {
    const stderr = [
      'pg_basebackup: warning: checksum verification failed in file "./base/16384/16390", block 1: calculated 8A1F but expected 1C2D',
      'pg_basebackup: warning: checksum verification failed in file "./base/16384/16390", block 1: calculated 8A1F but expected 1C2D',
      'pg_basebackup: warning: checksum verification failed in file "./base/16384/16395.1", block 7: calculated 0001 but expected 0002',
      "pg_basebackup: error: checksum error occurred",
    ].join("\n");
    assert.deepEqual(parseChecksumFailures(stderr), [
      { file: "base/16384/16390", databaseOid: 16384, filenode: 16390, block: 1 },
      { file: "base/16384/16395.1", databaseOid: 16384, filenode: 16395, block: 7 },
    ]);
  });

  it("finds none in other failures", function () {
    assert.deepEqual(parseChecksumFailures('pg_basebackup: error: could not connect to server: Connection refused\nfile "./base/1/2"'), []);
  });
});
