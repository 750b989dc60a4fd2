import assert from "node:assert/strict";
import { explainStateAccess } from "../../../src/cluster/state";
import { ConfigError } from "../../../src/errors";

describe("explainStateAccess", function () {
  it("turns a state directory owned by someone else into a ConfigError with the chown to run", function () {
    const denied = Object.assign(new Error("EPERM: operation not permitted, chmod '/w/.pgfort/app/secrets/postgres-password'"), { code: "EPERM" });
    const error = explainStateAccess(denied, "/w/.pgfort/app");
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, "cannot use the state directory /w/.pgfort/app (EPERM): it belongs to another user");
    assert.equal(error.hint, 'give it to the user that runs pgfort: sudo chown -R "$(id -u):$(id -g)" /w/.pgfort/app');
    assert.equal(error.cause, denied);
  });

  it("leaves every other error as it is", function () {
    const full = Object.assign(new Error("ENOSPC"), { code: "ENOSPC" });
    assert.equal(explainStateAccess(full, "/w"), full);
  });
});
