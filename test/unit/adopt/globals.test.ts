import assert from "node:assert/strict";
import { filterGlobals } from "../../../src/adopt/globals";

describe("adopt: the old server's roles", function () {
  it("leaves out the statements about pgfort's own roles and keeps every other role whole", function () {
    const globals = [
      "SET default_transaction_read_only = off;",
      "CREATE ROLE app;",
      "ALTER ROLE app WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:x';",
      "CREATE ROLE postgres;",
      "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:old';",
      'ALTER ROLE "replicator" SET work_mem TO \'8MB\';',
      "CREATE ROLE postgres_reader;",
      "ALTER ROLE postgres_reader WITH NOLOGIN;",
      "GRANT pg_read_all_data TO postgres_reader GRANTED BY postgres;",
      "COMMENT ON ROLE postgres IS 'the old one';",
    ].join("\n");
    assert.deepEqual(filterGlobals(globals, ["postgres", "replicator"]).split("\n"), [
      "SET default_transaction_read_only = off;",
      "CREATE ROLE app;",
      "ALTER ROLE app WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:x';",
      "CREATE ROLE postgres_reader;",
      "ALTER ROLE postgres_reader WITH NOLOGIN;",
      "GRANT pg_read_all_data TO postgres_reader GRANTED BY postgres;",
    ]);
  });
});
