import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Notifier, type NotifyFailure } from "../../../src/notify/notifier";
import type { RunEvent } from "../../../src/notify/plan";

const START: RunEvent = { event: "start", job: "nightly", backupId: null, bytes: null, durationMs: null, error: null };

describe("notify: the notifier", function () {
  it("does not retry a 404 (the URL is wrong), reports it once, and never rejects, even when the reporter throws", async function () {
    let requests = 0;
    const server = createServer((_request, response) => {
      requests += 1;
      response.statusCode = 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/t0ken`;
    try {
      const failures: NotifyFailure[] = [];
      await new Notifier({ ping: url, timeout: 2000 }, "app", (failure) => failures.push(failure)).notify(START);
      assert.equal(requests, 1);
      assert.equal(failures.length, 1);
      assert.equal(failures[0]?.target, "ping");
      assert.match(failures[0]?.message ?? "", /start of job nightly not delivered \(HTTP 404, 1 attempt\)/);
      assert.doesNotMatch(failures[0]?.message ?? "", /t0ken/);
      await new Notifier({ ping: url, timeout: 2000 }, "app", () => {
        throw new Error("a broken reporter");
      }).notify(START);
    } finally {
      server.close();
    }
  });
});
