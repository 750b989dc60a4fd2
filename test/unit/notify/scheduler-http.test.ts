// Acceptance item 5 of issue 10, without Docker: the real Scheduler with fake job functions, and a
// real HTTP server on 127.0.0.1 in the test as the healthchecks.io / webhook endpoint.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { parseConfig } from "../../../src/config/load";
import type { BackupJob } from "../../../src/config/schema";
import { Notifier, type NotifyFailure } from "../../../src/notify/notifier";
import { ScheduleMetrics } from "../../../src/schedule/metrics";
import { Scheduler, type RunJob } from "../../../src/schedule/scheduler";

interface Received {
  method: string;
  path: string;
  body: string;
}

interface Endpoint {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A server that records every request; `answer: false` accepts connections and never responds, and
 * the first `unavailable` requests get a 503.
 */
async function startEndpoint(answer: boolean, unavailable = 0): Promise<Endpoint> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ method: request.method ?? "", path: request.url ?? "", body: Buffer.concat(chunks).toString("utf8") });
      if (!answer) return;
      response.statusCode = received.length <= unavailable ? 503 : 200;
      response.end(response.statusCode === 200 ? "OK" : "busy");
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port nobody listens on: bound, then closed, so connecting is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function jobsOf(yaml: string): { jobs: BackupJob[]; notify: ReturnType<typeof parseConfig>["notify"] } {
  const config = parseConfig(yaml);
  return { jobs: config.backups.jobs, notify: config.notify };
}

async function notifyFailures(metrics: ScheduleMetrics, target: string): Promise<number> {
  const found = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === "pgfort_notify_failures_total");
  return Number(found?.values.find((value) => value.labels["target"] === target)?.value ?? Number.NaN);
}

/** A scheduler wired like `pgfort schedule`: failures to notify go to the metric and a warning list. */
function schedulerFor(yaml: string, runJob: RunJob): { scheduler: Scheduler; job: BackupJob; metrics: ScheduleMetrics; warnings: string[] } {
  const { jobs, notify } = jobsOf(yaml);
  const job = jobs[0];
  assert.ok(job);
  const metrics = new ScheduleMetrics(jobs.map((each) => each.name));
  const warnings: string[] = [];
  const notifier = new Notifier(notify, "app", ({ target, message }: NotifyFailure) => {
    metrics.notifyFailures.inc({ target });
    warnings.push(message);
  });
  return { scheduler: new Scheduler(jobs, runJob, metrics, { onEvent: () => undefined }, "UTC", notifier), job, metrics, warnings };
}

const JOB = '    - { name: nightly, kind: logical, schedule: "0 3 * * *" }\n';

describe("notify: the scheduler's runs to a real HTTP endpoint", function () {
  this.timeout(20_000);
  const endpoints: Endpoint[] = [];
  afterEach(async function () {
    for (const endpoint of endpoints.splice(0)) await endpoint.close();
  });

  it("a good run: start then success pings, and the webhook's JSON for both", async function () {
    const endpoint = await startEndpoint(true);
    endpoints.push(endpoint);
    const yaml = `cluster: app\nnotify: { ping: "${endpoint.url}/ping/tok3n", webhook: "${endpoint.url}/hook?token=s3cret", timeout: 2s }\nbackups:\n  jobs:\n${JOB}`;
    const { scheduler, job, metrics } = schedulerFor(yaml, async () => ({ bytes: 4096, backupId: "20261201T030000Z-abc123", verify: null }));
    await scheduler.runNow(job);
    const pings = endpoint.received.filter((request) => request.path.startsWith("/ping"));
    assert.deepEqual(pings.map((request) => request.path), ["/ping/tok3n/start", "/ping/tok3n"], "start before success, success on the bare URL");
    const hooks = endpoint.received.filter((request) => request.path.startsWith("/hook")).map((request) => JSON.parse(request.body) as Record<string, unknown>);
    assert.deepEqual(hooks.map((hook) => hook["event"]), ["start", "success"]);
    const success = hooks[1];
    assert.ok(success);
    assert.equal(success["job"], "nightly");
    assert.equal(success["cluster"], "app");
    assert.equal(success["backupId"], "20261201T030000Z-abc123");
    assert.equal(success["bytes"], 4096);
    assert.equal(typeof success["durationMs"], "number");
    assert.equal(success["error"], null);
    assert.ok(!Number.isNaN(Date.parse(String(success["time"]))));
    assert.equal(await notifyFailures(metrics, "ping"), 0);
    assert.equal(await notifyFailures(metrics, "webhook"), 0);
  });

  it("a failing run: a /fail ping whose body names the cause, and a failure webhook", async function () {
    const endpoint = await startEndpoint(true);
    endpoints.push(endpoint);
    const yaml = `notify: { ping: "${endpoint.url}/ping/tok3n", webhook: "${endpoint.url}/hook", timeout: 2s }\nbackups:\n  jobs:\n${JOB}`;
    const { scheduler, job, metrics } = schedulerFor(yaml, async () => {
      throw new Error("pg_dump: error: connection to server failed: FATAL: role \"backup\" does not exist");
    });
    await scheduler.runNow(job);
    const fail = endpoint.received.find((request) => request.path === "/ping/tok3n/fail");
    assert.ok(fail, `a /fail ping, got ${endpoint.received.map((request) => request.path).join(", ")}`);
    assert.equal(fail.method, "POST");
    assert.match(fail.body, /nightly failed: pg_dump: error: connection to server failed: FATAL: role "backup" does not exist/);
    assert.equal(endpoint.received.some((request) => request.path === "/ping/tok3n"), false, "no success ping for a failed run");
    const hook = endpoint.received.filter((request) => request.path === "/hook").map((request) => JSON.parse(request.body) as Record<string, unknown>).at(-1);
    assert.equal(hook?.["event"], "failure");
    assert.match(String(hook?.["error"]), /role "backup" does not exist/);
    assert.ok((await metrics.registry.getSingleMetricAsString("pgfort_backup_failures_total")).includes('job="nightly"} 1'), "the job's failure is still counted");
  });

  it("a drill that did not pass fails the run's notification too, with its detail", async function () {
    const endpoint = await startEndpoint(true);
    endpoints.push(endpoint);
    const yaml = `notify: { ping: "${endpoint.url}/p", timeout: 2s }\nbackups:\n  jobs:\n${JOB}`;
    const { scheduler, job } = schedulerFor(yaml, async () => ({ bytes: 1, backupId: "b1", verify: { status: "failed", detail: "backup b1 failed its restore drill: sha256 mismatch" } }));
    await scheduler.runNow(job);
    assert.match(endpoint.received.find((request) => request.path === "/p/fail")?.body ?? "", /sha256 mismatch/);
  });

  it("retries with backoff: a 503 and then a 200 is delivered, not a failure", async function () {
    const endpoint = await startEndpoint(true, 2);
    endpoints.push(endpoint);
    const yaml = `notify: { ping: "${endpoint.url}/p", timeout: 3s }\nbackups:\n  jobs:\n${JOB}`;
    const { scheduler, job, metrics, warnings } = schedulerFor(yaml, async () => ({ bytes: 1, backupId: "b1", verify: null }));
    await scheduler.runNow(job);
    assert.deepEqual(endpoint.received.map((request) => request.path), ["/p/start", "/p/start", "/p/start", "/p"], "two 503s on start, then delivered; then success");
    assert.equal(await notifyFailures(metrics, "ping"), 0);
    assert.deepEqual(warnings, []);
  });

  for (const [down, endpointFor] of [
    ["a port nobody listens on", async () => `http://127.0.0.1:${await closedPort()}/hook?token=s3cret`],
    ["a server that never answers", async () => {
      const silent = await startEndpoint(false);
      endpoints.push(silent);
      return `${silent.url}/hook?token=s3cret`;
    }],
  ] as const) {
    it(`with the webhook at ${down}, a run grows by no more than notify.timeout (300ms), the job never fails, and the failure is counted`, async function () {
      const timeoutMs = 300;
      const jobMs = 200;
      const webhook = await endpointFor();
      const yaml = `notify: { webhook: "${webhook}", timeout: ${timeoutMs}ms }\nbackups:\n  jobs:\n${JOB}`;
      const { scheduler, job, metrics, warnings } = schedulerFor(yaml, async () => {
        await new Promise((resolve) => setTimeout(resolve, jobMs));
        return { bytes: 1, backupId: "b1", verify: null };
      });
      const started = performance.now();
      await scheduler.runNow(job);
      const elapsedMs = performance.now() - started;
      const addedMs = elapsedMs - jobMs;
      console.log(`      webhook at ${down}: run ${elapsedMs.toFixed(0)} ms for a ${jobMs} ms job, added ${addedMs.toFixed(0)} ms (timeout ${timeoutMs} ms)`);
      // 50 ms of slack for timers on a loaded host; the start notice runs beside the job and adds nothing.
      assert.ok(addedMs <= timeoutMs + 50, `added ${addedMs.toFixed(0)} ms, more than the ${timeoutMs} ms timeout`);
      assert.ok((await metrics.registry.getSingleMetricAsString("pgfort_backup_runs_total")).includes('job="nightly",outcome="success"} 1'), "the job still succeeded");
      assert.equal(await notifyFailures(metrics, "webhook"), 2, "start and success both undelivered");
      assert.equal(warnings.length, 2);
      for (const warning of warnings) {
        assert.match(warning, /notify webhook http:\/\/127\.0\.0\.1:\d+\/…: (start|success) of job nightly not delivered/);
        assert.doesNotMatch(warning, /s3cret|\/hook/, "the URL's path and query hold tokens");
      }
    });
  }
});
