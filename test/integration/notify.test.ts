// Acceptance item 5 of issue 10 through `pgfort schedule` on real Docker: a local HTTP server, as
// healthchecks.io would, receives start and success pings for a good job and a failure ping naming the
// cause for a bad one; the webhook gets one JSON POST per event.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { appCluster } from "./backup-helpers";

const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "index.js");

describe("pgfort schedule: notifications", function () {
  it("pings start and success for a good job, /fail with the cause for a bad one, and posts the webhook JSON", async function () {
    const received: Array<{ path: string; body: string }> = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        received.push({ path: request.url ?? "", body });
        response.end("OK");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const workspace = await appCluster(`notify: { ping: "${base}/ping/t0ken", webhook: "${base}/hook?token=s3cret", timeout: 2s }
backups:
  jobs:
    - { name: good, kind: logical, schedule: "*/5 * * * * *", databases: [app] }
    - { name: broken, kind: logical, schedule: "*/5 * * * * *", databases: [nope] }
`);
    const child = spawn(process.execPath, [CLI, "--json", "schedule", "--port", "0", "--stop-timeout", "60"], { cwd: workspace.directory });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const hooks = (): Array<Record<string, unknown>> => received.filter((request) => request.path.startsWith("/hook")).map((request) => JSON.parse(request.body) as Record<string, unknown>);
    const done = (): boolean => hooks().some((hook) => hook["job"] === "good" && hook["event"] === "success") && hooks().some((hook) => hook["job"] === "broken" && hook["event"] === "failure");
    try {
      for (let attempt = 0; attempt < 240 && !done(); attempt += 1) await sleep(500);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, stderr.slice(-2000));
    server.close();
    const pings = received.filter((request) => request.path.startsWith("/ping")).map((request) => request.path);
    assert.ok(pings.includes("/ping/t0ken/start"), pings.join(", "));
    assert.ok(pings.indexOf("/ping/t0ken/start") < pings.indexOf("/ping/t0ken"), `start before success: ${pings.join(", ")}`);
    const fail = received.find((request) => request.path === "/ping/t0ken/fail");
    assert.match(fail?.body ?? "", /broken failed: .*database nope does not exist/);
    const success = hooks().find((hook) => hook["job"] === "good" && hook["event"] === "success");
    assert.equal(success?.["cluster"], workspace.cluster);
    assert.match(String(success?.["backupId"]), /^\d{8}T\d{6}Z-/);
    assert.ok(Number(success?.["bytes"]) > 0);
    assert.doesNotMatch(stderr, /s3cret|t0ken/, "no notify URL in the scheduler's output");
  });
});
