import assert from "node:assert/strict";
import YAML from "yaml";
import { detectIndent, isOfficialPostgres, lineDiff, planComposeEdit, readComposeService, replaceHost } from "../../../src/adopt/compose-file";

const USER_FILE = `# the shop
services:
  db:
    image: postgres:15
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: s3cret   # yes, in the file
      POSTGRES_DB: db
    volumes:
      - dbdata:/var/lib/postgresql/data
  web:
    image: shop/web
    environment:
      DATABASE_URL: postgres://app:s3cret@db:5432/db
      DB_HOST: db
      DB_NAME: db
    depends_on:
      - db
  worker:
    image: shop/worker
    environment:
      - PGHOST=db
      - QUEUE=db
  cache:
    image: redis
    labels: { tier: cache }
    command: [ "redis-server" ]
volumes:
  dbdata:
`;

const target = { host: "shop-primary", network: "shop-net" };

describe("adopt: the user's compose file", function () {
  it("finds the official-image service and its data volume, and refuses another image", function () {
    assert.deepEqual(readComposeService(USER_FILE, "compose.yaml", "db"), { name: "db", image: "postgres:15", containerName: undefined, dataVolume: "dbdata" });
    assert.throws(() => readComposeService(USER_FILE, "compose.yaml", "web"), /runs shop\/web, not the official postgres image/);
    assert.throws(() => readComposeService(USER_FILE, "compose.yaml", "nope"), /has no service nope.*|its services: db, web, worker, cache/);
    assert.throws(() => readComposeService("services: [", "compose.yaml", "db"), /not valid YAML/);
    for (const image of ["postgres", "postgres:16-alpine", "library/postgres:15", "docker.io/library/postgres@sha256:ab"]) assert.ok(isOfficialPostgres(image), image);
    for (const image of ["bitnami/postgresql:15", "postgres-custom:1", "pgfort/postgres:17"]) assert.ok(!isOfficialPostgres(image), image);
  });

  it("replaces the service name only where it is a host", function () {
    assert.equal(replaceHost("DATABASE_URL", "postgres://app:pw@db:5432/db", "db", "h"), "postgres://app:pw@h:5432/db");
    assert.equal(replaceHost("DSN", "host=db port=5432 dbname=db", "db", "h"), "host=h port=5432 dbname=db");
    assert.equal(replaceHost("DB_HOST", "db", "db", "h"), "h");
    assert.equal(replaceHost("DB_NAME", "db", "db", "h"), "db");
    assert.equal(replaceHost("URL", "postgres://app@dbx:5432/x", "db", "h"), "postgres://app@dbx:5432/x");
  });

  it("changes only the lines that must change: the old service into a profile, its users to the pgfort primary on the cluster's network", function () {
    const edit = planComposeEdit(USER_FILE, "compose.yaml", "db", target);
    assert.deepEqual(edit.changedServices, ["web", "worker"]);
    const after = YAML.parse(edit.text);
    assert.deepEqual(after.services.db.profiles, ["pgfort-adopted"]);
    assert.equal(after.services.db.image, "postgres:15", "the old service is kept");
    assert.equal(after.services.web.environment.DATABASE_URL, "postgres://app:s3cret@shop-primary:5432/db");
    assert.equal(after.services.web.environment.DB_HOST, "shop-primary");
    assert.equal(after.services.web.environment.DB_NAME, "db");
    assert.equal(after.services.web.depends_on, undefined);
    assert.deepEqual(after.services.web.networks, ["default", "pgfort"]);
    assert.deepEqual(after.services.worker.environment, ["PGHOST=shop-primary", "QUEUE=db"]);
    assert.equal(after.services.cache.networks, undefined, "a service that never used it is untouched");
    assert.deepEqual(after.networks, { pgfort: { external: true, name: "shop-net" } });
    assert.match(edit.text, /POSTGRES_PASSWORD: s3cret {3}# yes, in the file/, "comments stay");
    const removed = edit.diff.filter((line) => line.startsWith("- "));
    const added = edit.diff.filter((line) => line.startsWith("+ "));
    assert.deepEqual(removed.map((line) => line.slice(2).trim()), ["DATABASE_URL: postgres://app:s3cret@db:5432/db", "DB_HOST: db", "depends_on:", "- db", "- PGHOST=db"]);
    assert.ok(added.length <= 14, `a few lines: ${added.join("\n")}`);
    assert.ok(added.some((line) => line.includes("profiles: [pgfort-adopted]")), edit.diff.join("\n"));
  });

  it("keeps the file's indentation style and makes a small diff", function () {
    assert.deepEqual(detectIndent(USER_FILE), { width: 2, sequences: true });
    assert.deepEqual(detectIndent("a:\n    b:\n    - c\n"), { width: 4, sequences: false });
    assert.deepEqual(lineDiff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n"), ["  b", "- c", "+ X", "  d"]);
    assert.deepEqual(lineDiff("same\n", "same\n"), []);
  });
});
