// The agent's job server and the exec'd client, as real processes over a real Unix socket: a job
// (a dry-run prune of a directory target, no database needed) run in the server's process, and the
// client's own process when nobody listens or the environment differs.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import os from "node:os";
import path from "node:path";
import { startJobServer, environmentMismatch, type JobServer } from "../../../src/cli/job-server";
import { parseJobEvent } from "../../../src/jobs/events";

const CLIENT = path.join(__dirname, "..", "..", "..", "src", "agent", "job-client.js");

function runClient(argv: string[], env: Record<string, string>, stdin: "pipe" | "ignore" = "pipe"): Promise<{ code: number | null; events: ReturnType<typeof parseJobEvent>[]; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, ...argv], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env }, stdio: [stdin, "pipe", "inherit"] });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, events: stdout.split("\n").filter(Boolean).map(parseJobEvent) }));
  });
}

describe("the agent's job server", function () {
  this.timeout(20_000);
  let directory: string;
  let server: JobServer | undefined;
  let logged: string[];
  let socket: string;
  let argv: string[];

  beforeEach(async function () {
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-job-server-"));
    socket = path.join(directory, "jobs.sock");
    const agentConfig = path.join(directory, "agent.json");
    const configText = "cluster: app\nbackups: { target: file:///var/lib/pgfort/target }\n";
    await writeFile(agentConfig, JSON.stringify({ formatVersion: 1, configText, target: `file://${directory}`, servers: ["app-primary"], primaryNode: "primary" }));
    argv = ["job", "prune", "--dry-run", "--agent-config", agentConfig, "--stdin-lifeline"];
    logged = [];
  });
  afterEach(async function () {
    await server?.close();
    server = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  it("runs the job in its own process: the client relays the events and exits with the job's code", async function () {
    server = await startJobServer({ info: (message) => logged.push(message), warn: () => undefined }, socket);
    assert.equal((await stat(socket)).mode & 0o777, 0o600, "only the agent's uid connects");
    const result = await runClient(argv, { PGFORT_JOB_SOCKET: socket });
    assert.equal(result.code, 0, result.stdout);
    const answer = result.events.at(-1);
    assert.equal(answer?.event, "result", result.stdout);
    assert.deepEqual((answer as { value: { dryRun: boolean; deleted: string[] } }).value.deleted, []);
    assert.ok(!result.stdout.includes('"exit"') && !result.stdout.includes('"accepted"'), "the server's own frames are not relayed");
    assert.ok(logged.some((message) => message.includes("pgfort job prune --dry-run")), logged.join("\n"));
  });

  it("without --stdin-lifeline a closed stdin (docker exec without -i) aborts nothing", async function () {
    server = await startJobServer({ info: (message) => logged.push(message), warn: () => undefined }, socket);
    // The job's config arrives through a FIFO 300 ms late: long after the client saw its stdin end.
    const fifo = path.join(directory, "agent-fifo.json");
    execFileSync("mkfifo", [fifo]);
    const config = await readFile(path.join(directory, "agent.json"), "utf8");
    const plainArgv = ["job", "prune", "--dry-run", "--agent-config", fifo];
    const running = runClient(plainArgv, { PGFORT_JOB_SOCKET: socket }, "ignore");
    await sleep(300);
    await writeFile(fifo, config);
    const plain = await running;
    assert.equal(plain.code, 0, plain.stdout);
    assert.equal(plain.events.at(-1)?.event, "result", plain.stdout);
  });

  it("a job's error comes back with its code and exit code", async function () {
    server = await startJobServer({ info: (message) => logged.push(message), warn: () => undefined }, socket);
    const result = await runClient([...argv.slice(0, 2), "--agent-config", path.join(directory, "missing.json")], { PGFORT_JOB_SOCKET: socket });
    assert.equal(result.code, 2, result.stdout);
    const answer = result.events.at(-1);
    assert.equal(answer?.event, "error");
    assert.equal((answer as { code: string }).code, "CONFIG_INVALID");
  });

  it("nobody listening: the client runs the job as its own process", async function () {
    const result = await runClient(argv, { PGFORT_JOB_SOCKET: path.join(directory, "nobody.sock") });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.events.at(-1)?.event, "result", result.stdout);
  });

  it("an environment that differs from the agent's: the job runs in the client's own process", async function () {
    server = await startJobServer({ info: (message) => logged.push(message), warn: () => undefined }, socket);
    const result = await runClient(argv, { PGFORT_JOB_SOCKET: socket, PGFORT_S3_ENDPOINT: "http://172.17.0.1:9000" });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.events.at(-1)?.event, "result", result.stdout);
    assert.ok(!logged.some((message) => message.includes("pgfort job prune")), "the server ran nothing");
    assert.equal(environmentMismatch({ AWS_REGION: "eu-west-1" }, { AWS_REGION: "eu-west-1" }), undefined);
    assert.match(environmentMismatch({ AWS_REGION: "eu-west-1" }, {}) ?? "", /AWS_REGION differ/);
  });
});
