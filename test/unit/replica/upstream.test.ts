import assert from "node:assert/strict";
import { mustRecreate, recordedUpstream } from "../../../src/replica/upstream";

describe("a replica's upstream", function () {
  it("is the data volume's label, else the container's PGFORT_PRIMARY_HOST, else the original primary", function () {
    assert.equal(recordedUpstream("app", { volumeLabels: { "pgfort.upstream": "r1" }, containerEnv: ["PGFORT_PRIMARY_HOST=app-primary"] }), "r1");
    assert.equal(recordedUpstream("app", { volumeLabels: {}, containerEnv: ["X=1", "PGFORT_PRIMARY_HOST=app-r3"] }), "r3");
    assert.equal(recordedUpstream("app", { volumeLabels: {}, containerEnv: undefined }), "primary");
    assert.equal(recordedUpstream("app", { volumeLabels: undefined, containerEnv: undefined }), undefined, "no data at all: nothing to re-create");
  });

  it("re-creates only a replica whose data came from another node than the current primary", function () {
    assert.equal(mustRecreate("r1", "primary"), true);
    assert.equal(mustRecreate("r1", "r1"), false);
    assert.equal(mustRecreate("primary", "primary"), false);
    assert.equal(mustRecreate("r1", undefined), false);
  });
});
