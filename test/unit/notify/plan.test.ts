import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/load";
import { parseDuration } from "../../../src/config/schema";
import { ConfigError } from "../../../src/errors";
import { isRetryableStatus, pingBody, pingUrl, planNotifications, redactUrl, RETRY_DELAYS_MS, retryDelayMs, type RunEvent } from "../../../src/notify/plan";

const failure: RunEvent = { event: "failure", job: "nightly", backupId: null, bytes: null, durationMs: 1200, error: "pg_dump: connection refused" };

describe("notify: config", function () {
  it("is off by default, with a 5 s timeout", function () {
    const { notify } = parseConfig("");
    assert.equal(notify.ping, undefined);
    assert.equal(notify.webhook, undefined);
    assert.equal(notify.timeout, 5000);
  });

  it("parses ping, webhook and the timeout as the issue names them", function () {
    const { notify } = parseConfig("notify: { ping: https://hc-ping.com/0f1e, webhook: 'https://hooks.example/x?token=s3cret', timeout: 500ms }\n");
    assert.equal(notify.ping, "https://hc-ping.com/0f1e");
    assert.equal(notify.webhook, "https://hooks.example/x?token=s3cret");
    assert.equal(notify.timeout, 500);
  });

  it("parses durations: ms, s, m and plain milliseconds", function () {
    assert.equal(parseDuration("5s"), 5000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("300ms"), 300);
    assert.equal(parseDuration("1m"), 60_000);
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration("5 hours"), undefined);
    assert.equal(parseDuration("5"), undefined, "a bare string has no unit: say which");
  });

  it("rejects unknown keys, non-http URLs and bad timeouts, naming the path", function () {
    const rejects = (yaml: string, pattern: RegExp): void =>
      assert.throws(() => parseConfig(yaml, "pgfort.yaml"), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
    rejects("notify: { pings: https://a.example }\n", /notify.*pings/);
    rejects("notify: { ping: ftp://a.example/x }\n", /notify\.ping/);
    rejects("notify: { webhook: not a url }\n", /notify\.webhook/);
    rejects("notify: { timeout: 5 hours }\n", /notify\.timeout.*500ms or 5s/);
    rejects("notify: { timeout: 0s }\n", /notify\.timeout/);
  });
});

describe("notify: requests", function () {
  it("builds healthchecks.io-style ping URLs, keeping the query after the suffix", function () {
    assert.equal(pingUrl("https://hc-ping.com/abc", "start"), "https://hc-ping.com/abc/start");
    assert.equal(pingUrl("https://hc-ping.com/abc/", "success"), "https://hc-ping.com/abc");
    assert.equal(pingUrl("https://hc-ping.com/abc?create=1", "failure"), "https://hc-ping.com/abc/fail?create=1");
  });

  it("puts the cause of a failure in the ping body", function () {
    assert.match(pingBody(failure), /nightly failed: pg_dump: connection refused/);
  });

  it("plans one request per configured target, the webhook with every field", function () {
    const notify = { ping: "http://127.0.0.1:1/p", webhook: "http://127.0.0.1:1/w", timeout: 300 };
    const requests = planNotifications(notify, "app", failure, new Date("2026-12-01T03:00:00Z"));
    assert.deepEqual(requests.map((request) => [request.target, request.url]), [["ping", "http://127.0.0.1:1/p/fail"], ["webhook", "http://127.0.0.1:1/w"]]);
    const webhook = requests[1];
    assert.ok(webhook);
    assert.equal(webhook.contentType, "application/json");
    assert.deepEqual(JSON.parse(webhook.body), { event: "failure", job: "nightly", backupId: null, bytes: null, durationMs: 1200, error: "pg_dump: connection refused", cluster: "app", time: "2026-12-01T03:00:00.000Z" });
    assert.deepEqual(planNotifications({ timeout: 300 }, "app", failure, new Date()), []);
  });

  it("redacts the path and query of URLs (they hold tokens)", function () {
    assert.equal(redactUrl("https://hc-ping.com/0f1e-uuid-token"), "https://hc-ping.com/…");
    assert.equal(redactUrl("https://hooks.example:8443/x?token=s3cret"), "https://hooks.example:8443/…");
    assert.equal(redactUrl("https://user:pw@hooks.example/"), "https://hooks.example/");
    assert.equal(redactUrl("not a url"), "(an invalid URL)");
  });
});

describe("notify: retry plan", function () {
  it("backs off a few times, growing, and never past the deadline", function () {
    assert.deepEqual(RETRY_DELAYS_MS.map((_, retry) => retryDelayMs(retry, 10_000)), [100, 300, 900]);
    assert.equal(retryDelayMs(RETRY_DELAYS_MS.length, 10_000), null, "a few retries, not forever");
    assert.equal(retryDelayMs(1, 300), null, "a wait that would end at the deadline is not taken");
    assert.equal(retryDelayMs(0, 150), 100);
  });

  it("retries server errors and throttling, not a wrong URL", function () {
    assert.equal(isRetryableStatus(503), true);
    assert.equal(isRetryableStatus(429), true);
    assert.equal(isRetryableStatus(404), false);
    assert.equal(isRetryableStatus(400), false);
  });
});
