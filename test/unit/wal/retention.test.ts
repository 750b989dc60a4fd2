import assert from "node:assert/strict";
import { archiveKey } from "../../../src/wal/names";
import { planWalPrune } from "../../../src/wal/retention";

const SHA = "ef".repeat(32);
const object = (key: string) => ({ key, bytes: 1, modifiedAt: new Date(0) });

describe("WAL retention", function () {
  const objects = [
    ...["000000010000000000000001", "000000010000000000000002", "000000010000000000000003", "000000010000000000000003.00000028.backup", "00000002.history", "000000020000000000000004"].map((name) =>
      object(archiveKey("app", name, SHA, "zstd")),
    ),
    object("app/wal/gaps/000000010000000000000002.app-primary.json"),
    object("app/wal/gaps/000000020000000000000004.app-primary.json"),
  ];

  it("removes what no kept physical backup needs, never what one does, and keeps history files", function () {
    const plan = planWalPrune("app", objects, ["0/3000028", "0/4000028"]);
    assert.deepEqual(plan.remove, [archiveKey("app", "000000010000000000000001", SHA, "zstd"), archiveKey("app", "000000010000000000000002", SHA, "zstd"), "app/wal/gaps/000000010000000000000002.app-primary.json"].sort());
    assert.equal(plan.keptFrom, "0000000000000003");
  });

  it("with no physical backup kept, removes nothing", function () {
    assert.deepEqual(planWalPrune("app", objects, []).remove, []);
  });
});
