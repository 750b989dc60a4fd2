// The entrypoint's pure shell functions, run in bash with a prepared environment: no Docker.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { packagePath } from "../../../src/paths";

const LIB = packagePath("images", "postgres", "entrypoint-lib.sh");
const TEMPLATE = packagePath("images", "postgres", "pg_hba.conf");

function bash(script: string, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const result = spawnSync("bash", ["-euo", "pipefail", "-c", `source "${LIB}"\n${script}`], {
    env: { PATH: process.env["PATH"] ?? "", PGDATA: "/var/lib/postgresql/data", ...env },
    encoding: "utf8",
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe("entrypoint", function () {
  let directory: string;
  beforeEach(() => (directory = mkdtempSync(path.join(os.tmpdir(), "pgfort-entrypoint-"))));
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  describe("file_env", function () {
    it("reads VAR, else VAR_FILE, else the default, and refuses both", function () {
      const secret = path.join(directory, "secret");
      writeFileSync(secret, "from file with spaces\n");
      assert.equal(bash('file_env X; printf "%s" "$X"', { X: "direct" }).stdout, "direct");
      assert.equal(bash('file_env X; printf "%s" "$X"', { X_FILE: secret }).stdout, "from file with spaces");
      assert.equal(bash('file_env X fallback; printf "%s" "$X"').stdout, "fallback");
      const both = bash("file_env X", { X: "a", X_FILE: secret });
      assert.equal(both.code, 1);
      assert.match(both.stderr, /both X and X_FILE are set/);
      assert.match(bash("file_env X", { X_FILE: path.join(directory, "missing") }).stderr, /not a readable file/);
    });
  });

  describe("shared_socket_dir", function () {
    it("makes this server's own 0700 directory in the socket volume and clears a predecessor's socket files", function () {
      const volume = path.join(directory, "sockets");
      mkdirSync(path.join(volume, "app-primary"), { recursive: true });
      writeFileSync(path.join(volume, "app-primary", ".s.PGSQL.5432.lock"), "4242\n");
      const { code, stdout } = bash("shared_socket_dir", { PGFORT_SOCKETS_DIR: volume, HOSTNAME: "app-primary" });
      assert.equal(code, 0);
      assert.equal(stdout, `${path.join(volume, "app-primary")}\n`);
      assert.deepEqual(readdirSync(path.join(volume, "app-primary")), [], "the lock file of the container before is gone");
      const fresh = bash("shared_socket_dir", { PGFORT_SOCKETS_DIR: volume, HOSTNAME: "app-r1" });
      assert.equal(fresh.stdout, `${path.join(volume, "app-r1")}\n`);
      assert.equal(statSync(path.join(volume, "app-r1")).mode & 0o777, 0o700);
    });

    it("prints nothing without the variable, and warns when the volume is not writable", function () {
      assert.equal(bash("shared_socket_dir", { HOSTNAME: "app-primary" }).stdout, "");
      const unwritable = bash("shared_socket_dir", { PGFORT_SOCKETS_DIR: "/proc/pgfort-no-such-dir", HOSTNAME: "app-primary" });
      assert.equal(unwritable.code, 0);
      assert.equal(unwritable.stdout, "");
      assert.match(unwritable.stderr, /not writable: the agent reaches this server over the network only/);
    });
  });

  describe("render_hba", function () {
    it("uses scram-sha-256 on every network line and lets only the replication role replicate", function () {
      const { code, stdout } = bash(`render_hba "${TEMPLATE}"`, { PGFORT_REPLICATION_USER: "standby" });
      assert.equal(code, 0);
      const rules = stdout.split("\n").filter((line) => line && !line.startsWith("#"));
      const network = rules.filter((line) => line.startsWith("host"));
      assert.ok(network.length >= 2);
      for (const line of network) assert.match(line, /scram-sha-256$/);
      assert.ok(rules.some((line) => /^host\s+replication\s+standby\s+all\s+scram-sha-256$/.test(line)));
      assert.ok(!network.some((line) => /trust/.test(line)));
      assert.ok(!stdout.includes("@@"));
    });

    it("lets the replication role replicate over the socket with a password (the agent's base backups)", function () {
      const { stdout } = bash(`render_hba "${TEMPLATE}"`, { PGFORT_REPLICATION_USER: "standby" });
      assert.match(stdout, /^local\s+replication\s+standby\s+scram-sha-256$/m);
    });

    it("honours POSTGRES_HOST_AUTH_METHOD, and rejects an unknown one", function () {
      const trusting = bash(`render_hba "${TEMPLATE}"`, { POSTGRES_HOST_AUTH_METHOD: "trust" });
      assert.match(trusting.stdout, /^host\s+all\s+all\s+all\s+trust$/m);
      const wrong = bash(`render_hba "${TEMPLATE}"`, { POSTGRES_HOST_AUTH_METHOD: "yes-please" });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /not one of scram-sha-256/);
    });
  });

  describe("check_password_policy", function () {
    it("refuses an uninitialised server without a password unless trust was asked for", function () {
      const refused = bash("check_password_policy");
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE/);
      assert.equal(bash("check_password_policy", { POSTGRES_PASSWORD: "x" }).code, 0);
      const trusting = bash("check_password_policy", { POSTGRES_HOST_AUTH_METHOD: "trust" });
      assert.equal(trusting.code, 0);
      assert.match(trusting.stderr, /warning/);
    });
  });

  describe("basebackup_args", function () {
    it("streams WAL through the replica's slot and writes the recovery config, with no password in argv", function () {
      const { code, stdout } = bash("basebackup_args", {
        PGFORT_PRIMARY_HOST: "app-primary",
        PGFORT_REPLICATION_SLOT: "r1",
        PGFORT_REPLICATION_PASSWORD: "hunter2",
      });
      assert.equal(code, 0);
      const args = stdout.trim().split("\n");
      for (const expected of ["--host=app-primary", "--port=5432", "--username=replicator", "--write-recovery-conf", "--wal-method=stream", "--slot=r1", "--pgdata=/var/lib/postgresql/data", "--no-password"]) {
        assert.ok(args.includes(expected), `missing ${expected} in ${args.join(" ")}`);
      }
      assert.ok(!stdout.includes("hunter2"));
    });

    it("places WAL on its own directory when asked, and rejects a bad slot name", function () {
      const withWal = bash("basebackup_args", { PGFORT_PRIMARY_HOST: "p", POSTGRES_INITDB_WALDIR: "/var/lib/postgresql/wal/pg_wal" });
      assert.match(withWal.stdout, /^--waldir=\/var\/lib\/postgresql\/wal\/pg_wal$/m);
      assert.doesNotMatch(withWal.stdout, /--slot/);
      const bad = bash("basebackup_args", { PGFORT_PRIMARY_HOST: "p", PGFORT_REPLICATION_SLOT: "r1; rm -rf /" });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /use lowercase letters, digits and _/);
    });

    it("is replica mode only with PGFORT_PRIMARY_HOST", function () {
      assert.equal(bash("is_replica_mode").code, 1);
      assert.equal(bash("is_replica_mode", { PGFORT_PRIMARY_HOST: "p" }).code, 0);
    });
  });

  describe("initdb_scripts", function () {
    it("lists .sh, .sql and compressed .sql files in name order and ignores the rest", function () {
      for (const name of ["20-b.sql.gz", "10-a.sql", "30-c.sh", "40-d.txt", "05-e.sql.zst"]) writeFileSync(path.join(directory, name), "");
      const { stdout, stderr } = bash(`initdb_scripts "${directory}"`);
      assert.deepEqual(
        stdout.trim().split("\n").map((file) => path.basename(file)),
        ["05-e.sql.zst", "10-a.sql", "20-b.sql.gz", "30-c.sh"],
      );
      assert.match(stderr, /ignoring .*40-d.txt/);
      assert.equal(bash(`initdb_scripts "${path.join(directory, "none")}"`).stdout, "");
    });
  });

  describe("data_dir_state", function () {
    it("tells an empty directory (lost+found aside) from an initialised one and from foreign files", function () {
      const data = path.join(directory, "data");
      mkdirSync(path.join(data, "lost+found"), { recursive: true });
      assert.equal(bash("data_dir_state", { PGDATA: data }).stdout.trim(), "empty");
      writeFileSync(path.join(data, "notes.txt"), "x");
      assert.equal(bash("data_dir_state", { PGDATA: data }).stdout.trim(), "foreign");
      writeFileSync(path.join(data, "PG_VERSION"), "15\n");
      assert.equal(bash("data_dir_state", { PGDATA: data }).stdout.trim(), "initialised");
    });
  });

  describe("check_data_major", function () {
    it("passes the image's own major and stops on another one, saying which image runs it", function () {
      writeFileSync(path.join(directory, "PG_VERSION"), "15\n");
      assert.equal(bash("check_data_major", { PGDATA: directory, PG_MAJOR: "15" }).code, 0);
      const other = bash("check_data_major", { PGDATA: directory, PG_MAJOR: "17" });
      assert.equal(other.code, 1);
      assert.match(other.stderr, /holds a PostgreSQL 15 cluster and this image runs PostgreSQL 17: set image\.pgMajor: 15 in pgfort\.yaml \(the 15 image\) to run it; moving it to 17 is a major upgrade/);
    });
  });

  describe("standby_conninfo and pgpass_line", function () {
    it("moves the replication password out of primary_conninfo into the passfile, and names the node", function () {
      const auto = path.join(directory, "postgresql.auto.conf");
      writeFileSync(
        auto,
        "# Do not edit this file manually!\nprimary_conninfo = 'user=replicator password=s3cr3t-x_Y channel_binding=prefer host=app-primary port=5432 sslmode=prefer'\nprimary_slot_name = 'r1'\n",
      );
      const { code } = bash(`standby_conninfo "${auto}"`, { PGFORT_NODE_NAME: "r1", REPLICA_PASSFILE: "/tmp/p/pgpass" });
      assert.equal(code, 0);
      const content = readFileSync(auto, "utf8");
      assert.ok(!content.includes("s3cr3t"), content);
      assert.match(content, /^primary_conninfo = 'application_name=r1 passfile=\/tmp\/p\/pgpass user=replicator channel_binding=prefer host=app-primary port=5432 sslmode=prefer'$/m);
      assert.match(content, /^primary_slot_name = 'r1'$/m);
    });

    it("points a self-managed standby's primary_conninfo at the upstream its environment names, and refuses a bad host", function () {
      const auto = path.join(directory, "postgresql.auto.conf");
      const before = "primary_conninfo = 'sslmode=verify-full application_name=r3 passfile=/tmp/p user=replicator host=app-primary port=5432'\nprimary_slot_name = 'r3'\n";
      writeFileSync(auto, before);
      assert.equal(bash(`conninfo_upstream "${auto}"; conninfo_upstream "${auto}"`, { PGFORT_PRIMARY_HOST: "app-r1", PGFORT_PRIMARY_PORT: "5433" }).code, 0);
      assert.equal(readFileSync(auto, "utf8"), before.replace("host=app-primary port=5432", "host=app-r1 port=5433"));
      assert.notEqual(bash(`conninfo_upstream "${auto}"`, { PGFORT_PRIMARY_HOST: "x' host=evil" }).code, 0);
      assert.match(readFileSync(auto, "utf8"), /host=app-r1 port=5433'/);
      // As pg_basebackup -R (17) writes it: libpq quotes the host, postgresql.auto.conf doubles the quotes.
      const written = "primary_conninfo = 'application_name=r2 passfile=/tmp/p user=replicator passfile=''/tmp/p'' channel_binding=prefer host=''app-primary'' port=5432 sslnegotiation=postgres'\n";
      writeFileSync(auto, written);
      assert.equal(bash(`conninfo_upstream "${auto}"`, { PGFORT_PRIMARY_HOST: "app-r1" }).code, 0);
      assert.equal(readFileSync(auto, "utf8"), written.replace("host=''app-primary''", "host=app-r1"));
    });

    it("requires TLS on every network line of pg_hba.conf and keeps socket and explicit lines", function () {
      const hba = path.join(directory, "pg_hba.conf");
      writeFileSync(hba, "local all all trust\nhost replication replicator all scram-sha-256\nhost\tall all all scram-sha-256\nhostnossl all all 10.0.0.0/8 reject\nhostssl all all all cert\n# host all all all trust\n");
      assert.equal(bash(`hba_require_tls "${hba}"; hba_require_tls "${hba}"`).code, 0);
      assert.equal(
        readFileSync(hba, "utf8"),
        "local all all trust\nhostssl replication replicator all scram-sha-256\nhostssl\tall all all scram-sha-256\nhostnossl all all 10.0.0.0/8 reject\nhostssl all all all cert\n# host all all all trust\n",
      );
    });

    it("makes a standby verify its primary's certificate, also one made before TLS, idempotently", function () {
      const auto = path.join(directory, "postgresql.auto.conf");
      writeFileSync(auto, "primary_conninfo = 'application_name=r1 passfile=/tmp/p user=replicator host=app-primary port=5432 sslmode=prefer sslcompression=0 sslrootcert=''/old/ca.crt'' sslcertmode=allow'\nprimary_slot_name = 'r1'\n");
      const env = { PGFORT_TLS_CA_FILE: "/run/secrets/tls-ca.crt" };
      assert.equal(bash(`conninfo_verify_tls "${auto}"; conninfo_verify_tls "${auto}"`, env).code, 0);
      assert.equal(
        readFileSync(auto, "utf8"),
        "primary_conninfo = 'sslmode=verify-full sslrootcert=/run/secrets/tls-ca.crt application_name=r1 passfile=/tmp/p user=replicator host=app-primary port=5432 sslcompression=0 sslcertmode=allow'\nprimary_slot_name = 'r1'\n",
      );
      const none = path.join(directory, "empty.conf");
      writeFileSync(none, "");
      assert.equal(bash(`conninfo_verify_tls "${none}"`, env).code, 0);
      assert.equal(readFileSync(none, "utf8"), "");
    });

    it("refuses to start with TLS required and no readable CA", function () {
      const missing = bash("check_tls_files", { PGFORT_TLS_CA_FILE: path.join(directory, "none.crt") });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not readable: run pgfort up/);
      assert.equal(bash("check_tls_files").code, 0);
    });

    it("uses a private key where it is, and copies a key others can read (a Compose secret) into a 0600 file", function () {
      const ca = path.join(directory, "tls-ca.crt");
      const key = path.join(directory, "tls-server.key");
      writeFileSync(ca, "CA");
      writeFileSync(key, "KEY", { mode: 0o600 });
      const env = { PGFORT_TLS_CA_FILE: ca };
      const tmpfs = path.join(directory, "run");
      const kept = bash(`private_tls_key "${tmpfs}"`, env);
      assert.deepEqual([kept.code, kept.stdout], [0, ""], "a 0600 key of ours is used where it is");
      writeFileSync(key, "KEY", { mode: 0o644 });
      chmodSync(key, 0o644);
      const copied = bash(`private_tls_key "${tmpfs}"`, env);
      assert.equal(copied.stdout, `${path.join(tmpfs, "tls-server.key")}\n`);
      assert.equal(readFileSync(path.join(tmpfs, "tls-server.key"), "utf8"), "KEY");
      assert.equal(statSync(path.join(tmpfs, "tls-server.key")).mode & 0o777, 0o600);
      const plain = bash(`private_tls_key "${tmpfs}"`);
      assert.deepEqual([plain.code, plain.stdout], [0, ""], `no TLS: nothing to do (set -u, no CA variable): ${plain.stderr}`);
      rmSync(key);
      const missing = bash(`private_tls_key "${tmpfs}"`, env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /TLS key .* is not readable/);
    });

    it("makes a replica's slot with a replication command, and refuses a bad slot name", function () {
      assert.equal(bash("replication_slot_sql app_r1").stdout, "CREATE_REPLICATION_SLOT app_r1 PHYSICAL RESERVE_WAL\n");
      assert.equal(bash('replication_slot_sql "r1; DROP"').code, 1);
      assert.equal(bash('replication_slot_sql ""').code, 1);
    });

    it("escapes : and \\ in pgpass lines", function () {
      assert.equal(bash('pgpass_line replicator "a:b\\c"').stdout, "*:*:*:replicator:a\\:b\\\\c\n");
    });
  });
});
