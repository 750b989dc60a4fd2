import assert from "node:assert/strict";
import { libcMismatches, mismatchWarning, parseLibcVersion } from "../../../src/collation/versions";
import { formatCollationWarnings } from "../../../src/cli/cluster";

describe("collation versions", function () {
  const record = {
    libc: "2.36",
    databases: [
      { name: "app", provider: "c", version: "2.36" },
      { name: "c_locale", provider: "c", version: null },
      { name: "icu", provider: "i", version: "153.120" },
      { name: "same", provider: "c", version: "2.41" },
    ],
  };

  it("a libc database recorded under another library version mismatches; C/POSIX, ICU and the same version do not", function () {
    assert.deepEqual(libcMismatches(record, "2.41"), [{ database: "app", recorded: "2.36", actual: "2.41" }]);
    assert.deepEqual(libcMismatches(record, "2.36"), [{ database: "same", recorded: "2.41", actual: "2.36" }]);
  });

  it("reads getconf's glibc version and nothing else", function () {
    assert.equal(parseLibcVersion("glibc 2.41\n"), "2.41");
    assert.equal(parseLibcVersion("musl 1.2"), null);
    assert.equal(parseLibcVersion(""), null);
  });

  it("words the warning as PostgreSQL does, quoting a name that needs it, per node in status", function () {
    assert.deepEqual(mismatchWarning({ database: "app", recorded: "0.1", actual: "2.41" }), [
      'WARNING:  database "app" has a collation version mismatch',
      "DETAIL:  The database was created using collation version 0.1, but the operating system provides version 2.41.",
      "HINT:  Rebuild all objects in this database that use the default collation and run ALTER DATABASE app REFRESH COLLATION VERSION, or build PostgreSQL with the right library version.",
    ]);
    assert.match(mismatchWarning({ database: 'My "db"', recorded: "1", actual: "2" })[2] ?? "", /ALTER DATABASE "My ""db""" REFRESH/);
    const lines = formatCollationWarnings([
      { node: "primary", collation: [{ database: "app", recorded: "0.1", actual: "2.41" }] },
      { node: "r1", collation: null },
      { node: "r2", collation: [] },
    ]);
    assert.equal(lines.length, 3);
    assert.ok(lines.every((line) => line.startsWith("primary: ")));
  });
});
