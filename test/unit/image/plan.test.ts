import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/load";
import { ConfigError } from "../../../src/errors";
import { IMAGE_FILES, parseBuildFlags, planContextFiles, planImageBuild } from "../../../src/image/plan";

const defaults = parseConfig("{}").image;

describe("planImageBuild", function () {
  it("builds pgfort/postgres:17 on debian:trixie-slim with PL/Python by default", function () {
    const plan = planImageBuild(defaults, parseBuildFlags({}), "1.2.3");
    assert.equal(plan.tag, "pgfort/postgres:17");
    assert.deepEqual(plan.buildArgs, {
      BASE_IMAGE: "debian:trixie-slim",
      PG_MAJOR: "17",
      EXTENSIONS: "plpython3",
      PGFORT_VERSION: "1.2.3",
    });
    assert.equal(plan.noCache, false);
    assert.equal(plan.dockerfile, "images/postgres/Dockerfile");
  });

  it("takes the image section of the config", function () {
    const image = parseConfig("image: { tag: 'registry.local:5000/db/pg:prod', base: 'debian:bookworm', extensions: [plpython3, pgvector] }").image;
    const plan = planImageBuild(image, parseBuildFlags({}), "1.0.0");
    assert.equal(plan.tag, "registry.local:5000/db/pg:prod");
    assert.equal(plan.buildArgs["BASE_IMAGE"], "debian:bookworm");
    assert.equal(plan.buildArgs["EXTENSIONS"], "plpython3 pgvector");
  });

  it("lets flags win, and gives a new major its own tag in the same repository", function () {
    const plan = planImageBuild(defaults, parseBuildFlags({ pgMajor: "16", noCache: true }), "1.0.0");
    assert.equal(plan.tag, "pgfort/postgres:16");
    assert.equal(plan.buildArgs["PG_MAJOR"], "16");
    assert.equal(plan.noCache, true);
    const tagged = planImageBuild(defaults, parseBuildFlags({ pgMajor: "16", tag: "mine/pg:x" }), "1.0.0");
    assert.equal(tagged.tag, "mine/pg:x");
    // --pg-major 15 builds on the release that packages 15, unless the config names a base.
    const fifteen = planImageBuild(defaults, parseBuildFlags({ pgMajor: "15" }), "1.0.0");
    assert.deepEqual([fifteen.tag, fifteen.buildArgs["BASE_IMAGE"]], ["pgfort/postgres:15", "debian:bookworm-slim"]);
    const ownBase = parseConfig("image: { base: 'registry.local/debian-with-pgdg:12' }").image;
    assert.equal(planImageBuild(ownBase, parseBuildFlags({ pgMajor: "15" }), "1.0.0").buildArgs["BASE_IMAGE"], "registry.local/debian-with-pgdg:12");
    const withRegistryPort = parseConfig("image: { tag: 'localhost:5000/pg' }").image;
    assert.equal(planImageBuild(withRegistryPort, parseBuildFlags({ pgMajor: "17" }), "1").tag, "localhost:5000/pg:17");
  });
});

describe("parseBuildFlags", function () {
  const rejects = (flags: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(() => parseBuildFlags(flags), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));

  it("names the flag and what it takes", function () {
    rejects({ pgMajor: "fifteen" }, /--pg-major: expected a PostgreSQL major version/);
    rejects({ pgMajor: "15.2" }, /--pg-major: expected a whole major version/);
    rejects({ pgMajor: "9" }, /--pg-major: PostgreSQL 12 is the oldest/);
    rejects({ tag: "Not A Tag" }, /--tag: not an image reference/);
    rejects({ base: "" }, /--base: not an image reference/);
    rejects({ colour: "red" }, /unknown key\(s\) colour/);
  });

  it("accepts references with registries, ports and digests", function () {
    for (const tag of ["pg", "pgfort/postgres:15", "registry.example.com:5000/team/pg:15-bookworm", `pg@sha256:${"a".repeat(64)}`]) {
      assert.equal(parseBuildFlags({ tag }).tag, tag);
    }
  });
});

describe("planContextFiles", function () {
  it("holds the image files and the conf.d/*.conf files only, sorted", function () {
    const files = planContextFiles(["90-overrides.conf", "10-memory.conf", "README", ".hidden.swp", "notes.txt"]);
    assert.deepEqual(files, [...IMAGE_FILES, "conf.d/10-memory.conf", "conf.d/90-overrides.conf"].sort());
  });
});
