// Test helpers: a labelled Postgres container from the image under test, and queries against it.
import assert from "node:assert/strict";
import Dockerode from "dockerode";
import { readFile } from "node:fs/promises";
import { Client } from "pg";
import { DockerClient, type ContainerCreateOptions } from "../../src/docker/client";
import { clusterLabels } from "../../src/docker/labels";
import { DEFAULT_PG_MAJOR } from "../../src/config/schema";

/** The major under test: PGFORT_TEST_PG_MAJOR (15 for the run on the older major), else the default. */
export const TEST_PG_MAJOR = Number(process.env["PGFORT_TEST_PG_MAJOR"] ?? DEFAULT_PG_MAJOR);
/**
 * The image under test. PGFORT_TEST_IMAGE gives it another tag, so that two checkouts testing
 * different images on one Docker engine do not retag each other's builds; unset, the default tag.
 */
export const IMAGE = process.env["PGFORT_TEST_IMAGE"] ?? `pgfort/postgres:${TEST_PG_MAJOR}`;
let client: DockerClient | undefined;

/** The engine itself, for checks that must not go through the code under test. */
export const engineApi = new Dockerode();

export async function docker(): Promise<DockerClient> {
  return (client ??= await DockerClient.connect());
}

export interface TestServer {
  name: string;
  port: number;
}

export interface ServerOptions {
  env?: string[];
  binds?: string[];
  mounts?: NonNullable<ContainerCreateOptions["HostConfig"]>["Mounts"];
  readOnly?: boolean;
  cmd?: string[];
  user?: string;
}

/** Starts a container of the image with a published 127.0.0.1 port and waits until it is healthy. */
export async function startServer(cluster: string, node: string, options: ServerOptions = {}): Promise<TestServer> {
  const engine = await docker();
  const name = `${cluster}-${node}`;
  await engine.createAndStart({
    name,
    Image: IMAGE,
    Env: options.env ?? [],
    Cmd: options.cmd,
    User: options.user,
    Labels: clusterLabels(cluster, "primary", node),
    ExposedPorts: { "5432/tcp": {} },
    HostConfig: {
      PortBindings: { "5432/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
      Binds: options.binds,
      Mounts: options.mounts,
      ReadonlyRootfs: options.readOnly ?? false,
      Tmpfs: options.readOnly ? { "/var/run/postgresql": "", "/tmp": "" } : undefined,
    },
  });
  await engine.waitUntilHealthy(name, 120_000);
  return { name, port: await publishedPort(name) };
}

export async function publishedPort(name: string): Promise<number> {
  const info = await (await docker()).inspectContainerIfExists(name);
  const port = info?.NetworkSettings.Ports["5432/tcp"]?.[0]?.HostPort;
  assert.ok(port, `container ${name} publishes no port`);
  return Number(port);
}

/** Runs SQL with psql inside the container over the unix socket; returns its unaligned output. */
export async function psql(container: string, sql: string, options: { user?: string; db?: string } = {}): Promise<string> {
  const result = await (await docker()).exec(container, [
    "psql",
    "-v",
    "ON_ERROR_STOP=1",
    "-X",
    "-At",
    "-U",
    options.user ?? "postgres",
    "-d",
    options.db ?? "postgres",
    "-c",
    sql,
  ]);
  assert.equal(result.exitCode, 0, `psql failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Connects over TCP to the published port, as an application would: with TLS verified against `caFile` when given (a pgfort cluster's). */
export async function connectTcp(port: number, user: string, password: string, database = "postgres", caFile?: string): Promise<Client> {
  const ssl = caFile === undefined ? false : { ca: await readFile(caFile, "utf8") };
  const connection = new Client({ host: "127.0.0.1", port, user, password, database, ssl, connectionTimeoutMillis: 10_000 });
  await connection.connect();
  return connection;
}

type Mount = NonNullable<NonNullable<ContainerCreateOptions["HostConfig"]>["Mounts"]>[number];

/** A named volume labelled with the cluster, so the cleanup hook finds it. */
export function labelledVolume(cluster: string, suffix: string, target: string): Mount {
  return {
    Type: "volume",
    Source: `${cluster}-${suffix}`,
    Target: target,
    VolumeOptions: { NoCopy: false, Labels: { "pgfort.cluster": cluster }, DriverConfig: { Name: "local", Options: {} } },
  };
}

/** Runs a shell command in a one-off container of the image (labelled with the cluster); its exit code and output. */
export async function runInImage(cluster: string, script: string, binds: string[] = []): Promise<{ exitCode: number; output: string }> {
  const engine = await docker();
  const name = `${cluster}-tool-${Math.random().toString(16).slice(2, 8)}`;
  // As root: backup files are 0600, owned by whoever ran pgfort.
  await engine.createAndStart({ name, Image: IMAGE, User: "0:0", Entrypoint: ["bash", "-c"], Cmd: [script], Labels: { "pgfort.cluster": cluster }, HostConfig: { Binds: binds } });
  const exitCode = await engine.waitContainer(name);
  const output = await engine.logTail(name, 100_000);
  await engine.removeContainer(name);
  return { exitCode, output };
}
