// The hand-off's pure parts: the one-off container's plan, the agent's config, S3 access for a
// job container, and the events read back from a job's stdout.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseConfig } from "../../../src/config/load";
import { BackupError, ContainerError } from "../../../src/errors";
import { errorEvent, formatJobEvent, JobFailedError, parseJobEvent, type JobEvent } from "../../../src/jobs/events";
import { targetInJob } from "../../../src/handoff/agent-config";
import { JobEventsReader } from "../../../src/handoff/events-reader";
import { planOneOffJobContainer } from "../../../src/handoff/job-container";
import { planS3Access } from "../../../src/handoff/s3-access";

const config = parseConfig("cluster: app\nreplicas: [{ name: r1 }]\nbackups: { resources: { cpus: 4, memory: 512m } }\n", "test");

describe("the hand-off to a job container", function () {
  it("plans a one-off container of the agent image: hardened, limited, no log driver, no socket, the target and secrets mounted", function () {
    const create = planOneOffJobContainer({
      config,
      node: "backup-abc123",
      args: ["backup", "--kind", "physical"],
      targetDirectory: "/srv/backups",
      network: { mode: "primary", container: "app-primary" },
      hostCpus: 2,
    });
    assert.equal(create.name, "app-backup-abc123");
    assert.equal(create.Image, "pgfort/postgres:17-agent");
    assert.equal(create.User, "999:999");
    assert.deepEqual(create.Cmd, ["job", "backup", "--kind", "physical", "--stdin-lifeline"]);
    assert.equal(create.Labels?.["pgfort.role"], "backup");
    const host = create.HostConfig ?? {};
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.LogConfig, { Type: "none", Config: {} });
    assert.deepEqual(host.RestartPolicy, { Name: "no", MaximumRetryCount: 0 });
    assert.equal(host.NanoCpus, 2e9, "the CPU limit is capped at the host's");
    assert.equal(host.Memory, 512 * 1024 * 1024);
    assert.equal(host.NetworkMode, "container:app-primary");
    assert.deepEqual(host.Binds, ["app-secrets:/run/secrets:ro", "/srv/backups:/var/lib/pgfort/target"]);
    assert.ok(!JSON.stringify(create).includes("docker.sock"));
    assert.equal(planOneOffJobContainer({ config, node: "n", args: ["prune"], network: { mode: "none" }, hostCpus: 2 }).HostConfig?.NetworkMode, "none");
    assert.equal(planOneOffJobContainer({ config, node: "n", args: ["prune"], network: { mode: "cluster" }, hostCpus: 2 }).HostConfig?.NetworkMode, "app-net");
  });

  it("the target as the job sees it: a file:// directory at the mount, s3:// unchanged", function () {
    assert.equal(targetInJob("file://./backups"), "file:///var/lib/pgfort/target");
    assert.equal(targetInJob("s3://bucket/prefix"), "s3://bucket/prefix");
  });

  it("S3: the credentials file named, not its content; a loopback endpoint through the gateway, others unchanged", function () {
    const access = planS3Access({ region: "eu-west-1" }, "172.24.0.1", { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000", AWS_SECRET_ACCESS_KEY: "SECRET" });
    assert.deepEqual(access.env, { AWS_SHARED_CREDENTIALS_FILE: "/run/secrets/aws-credentials", AWS_REGION: "eu-west-1", PGFORT_S3_ENDPOINT: "http://172.24.0.1:9000" });
    assert.equal(access.endpoint, "http://127.0.0.1:9000");
    assert.ok(!JSON.stringify(access.env).includes("SECRET"));
    assert.equal(planS3Access({ endpoint: "https://s3.example.com" }, "172.24.0.1", {}).endpointInJob, "https://s3.example.com");
    assert.deepEqual(planS3Access({}, "172.24.0.1", {}).env, { AWS_SHARED_CREDENTIALS_FILE: "/run/secrets/aws-credentials", AWS_REGION: "us-east-1" });
  });

  it("reads a job's events: progress as it comes, the result; an error event is the job's PgfortError with its code, hint and exit code", async function () {
    const seen: JobEvent[] = [];
    const reader = new JobEventsReader((event) => seen.push(event), (text) => text.replace("/var/lib/pgfort/target", "/srv/backups"));
    const error = errorEvent(new BackupError("cannot write /var/lib/pgfort/target/x: no space left on device", "free space on /var/lib/pgfort/target"));
    const lines = [
      formatJobEvent({ event: "progress", file: "base.tar.zst", bytes: 10, elapsedMs: 5 }),
      "a line that is not an event\n",
      formatJobEvent(error),
    ].join("");
    // Split mid-line: events may span chunks.
    await pipeline(Readable.from([Buffer.from(lines.slice(0, 30)), Buffer.from(lines.slice(30))]), reader);
    assert.deepEqual(seen, [{ event: "progress", file: "base.tar.zst", bytes: 10, elapsedMs: 5 }]);
    assert.throws(() => reader.settle("app-agent", 1, ""), (thrown: unknown) => {
      assert.ok(thrown instanceof JobFailedError);
      assert.equal(thrown.code, "BACKUP_FAILED");
      assert.equal(thrown.exitCode, 1);
      assert.equal(thrown.message, "cannot write /srv/backups/x: no space left on device");
      assert.equal(thrown.hint, "free space on /srv/backups");
      return true;
    });
    const ok = new JobEventsReader(() => undefined);
    await pipeline(Readable.from([formatJobEvent({ event: "result", value: { id: "x" } })]), ok);
    assert.deepEqual(ok.settle("c", 0, ""), { id: "x" });
  });

  it("a job that ends without a result or an error event is a ContainerError carrying its last output", async function () {
    const reader = new JobEventsReader(() => undefined);
    await pipeline(Readable.from(["Segmentation fault\n"]), reader);
    assert.throws(() => reader.settle("app-backup-1", 139, "node: crashed"), (thrown: unknown) => thrown instanceof ContainerError && /exit 139.*\nSegmentation fault\nnode: crashed/s.test(thrown.message));
    assert.equal(parseJobEvent('{"event":"progress","file":1}'), undefined);
    assert.equal(errorEvent(new Error("boom")).code, "INTERNAL");
  });
});
