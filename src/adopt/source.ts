// `pgfort adopt`: the running official-image container of a Compose service, and its logical
// backup — globals and every database, each dump taken in one snapshot with the exact row count of
// every table in that same snapshot — written beside the cluster's state with sha256 sums. The
// manifest is written last: a directory without one is not a backup. Only psql, pg_dump and
// pg_dumpall of the old container run (its own major), as its postgres user.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import type { DockerClient } from "../docker/client";
import { Demultiplexer } from "../docker/demultiplex";
import { AdoptError, ConfigError } from "../errors";
import { ROW_COUNT_QUERY } from "../backup/plan";
import { USER_DATABASES_QUERY } from "../cluster/sql";

export interface SourceServer {
  container: string;
  image: string;
  /** POSTGRES_USER: the superuser the official image made. */
  user: string;
  /** POSTGRES_PASSWORD or the file POSTGRES_PASSWORD_FILE names, when the container has one. */
  password: string | undefined;
  versionNum: number;
}

export const RoleSchema = z.object({
  rolname: z.string(),
  rolsuper: z.boolean(),
  rolinherit: z.boolean(),
  rolcreaterole: z.boolean(),
  rolcreatedb: z.boolean(),
  rolcanlogin: z.boolean(),
  rolreplication: z.boolean(),
  rolbypassrls: z.boolean(),
});
export type Role = z.infer<typeof RoleSchema>;
export const ROLES_QUERY = "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname";

export const AdoptManifestSchema = z.object({
  formatVersion: z.literal(1),
  service: z.string(),
  composeFile: z.string(),
  source: z.object({ container: z.string(), image: z.string(), versionNum: z.number(), user: z.string() }),
  takenAt: z.string(),
  globals: z.object({ file: z.string(), sha256: z.string(), bytes: z.number() }),
  databases: z.array(z.object({ name: z.string(), file: z.string(), sha256: z.string(), bytes: z.number(), rows: z.record(z.string(), z.number()) })),
  roles: z.array(RoleSchema),
  /** Roles whose stored password is an MD5 hash: pgfort's scram-sha-256 lines refuse them until it is set again. */
  md5Roles: z.array(z.string()),
  /** Other sessions connected while the dumps ran: their later writes are not in the backup. */
  otherSessions: z.number(),
});
export type AdoptManifest = z.infer<typeof AdoptManifestSchema>;
export const ADOPT_MANIFEST = "manifest.json";

/** The service's running container: `container_name`, else Compose's labels for that service of that file's project. */
export async function findSourceContainer(docker: DockerClient, composeFile: string, service: string, containerName: string | undefined): Promise<string> {
  if (containerName) {
    const info = await docker.inspectContainerIfExists(containerName);
    if (!info?.State.Running) throw new ConfigError(`the container ${containerName} of service ${service} is not running`, `start it: docker compose -f ${composeFile} up -d ${service}`);
    return containerName;
  }
  const { containers } = await docker.listLabelled({ label: [`com.docker.compose.service=${service}`] });
  const directory = path.dirname(composeFile);
  const ours = containers.filter((container) => {
    const labels = container.Labels;
    const files = (labels["com.docker.compose.project.config_files"] ?? "").split(",").map((file) => path.resolve(labels["com.docker.compose.project.working_dir"] ?? directory, file));
    return files.includes(composeFile) || labels["com.docker.compose.project.working_dir"] === directory;
  });
  const running = ours.filter((container) => container.State === "running");
  const names = running.map((container) => (container.Names[0] ?? container.Id).replace(/^\//, ""));
  if (names.length === 1 && names[0]) return names[0];
  if (names.length > 1) throw new ConfigError(`service ${service} of ${composeFile} has ${names.length} running containers (${names.join(", ")})`, "scale it to one replica, or give it a container_name, and run pgfort adopt again");
  throw new ConfigError(`service ${service} of ${composeFile} has no running container`, `start it: docker compose -f ${composeFile} up -d ${service} (pgfort adopt reads the running server)`);
}

function envOf(env: readonly string[], name: string): string | undefined {
  const entry = env.find((item) => item.startsWith(`${name}=`));
  return entry === undefined ? undefined : entry.slice(name.length + 1);
}

export async function readSource(docker: DockerClient, container: string): Promise<SourceServer> {
  const info = await docker.inspectContainerIfExists(container);
  if (!info) throw new ConfigError(`container ${container} is gone`, "start the service again");
  const env = info.Config.Env ?? [];
  const user = envOf(env, "POSTGRES_USER") || "postgres";
  let password = envOf(env, "POSTGRES_PASSWORD") || undefined;
  const passwordFile = envOf(env, "POSTGRES_PASSWORD_FILE");
  if (!password && passwordFile) {
    const read = await docker.exec(container, ["cat", passwordFile]);
    if (read.exitCode === 0) password = read.stdout.replace(/\n$/, "");
  }
  const server: SourceServer = { container, image: info.Config.Image, user, password, versionNum: 0 };
  server.versionNum = Number(await sourceSql(docker, server, "SHOW server_version_num"));
  return server;
}

function psqlArgs(server: SourceServer, database: string): string[] {
  return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", server.user, "-d", database];
}

function execOptions(server: SourceServer): { user: string; env: string[] } {
  return { user: "postgres", env: server.password ? [`PGPASSWORD=${server.password}`] : [] };
}

/** One statement on the old server (its Unix socket, as its postgres user); the text it printed. */
export async function sourceSql(docker: DockerClient, server: SourceServer, sql: string, database = "postgres"): Promise<string> {
  const result = await docker.exec(server.container, psqlArgs(server, database), { ...execOptions(server), stdin: sql });
  if (result.exitCode !== 0) {
    throw new AdoptError(`${server.container}: ${result.stderr.replace(/^psql:<stdin>:\d+: /gm, "").trim() || `psql exited with ${result.exitCode}`}`, `check that psql -U ${server.user} works in ${server.container} (docker exec -u postgres ${server.container} psql -U ${server.user})`);
  }
  return result.stdout.trim();
}

async function sourceJson<T>(docker: DockerClient, server: SourceServer, query: string, schema: z.ZodType<T>, database = "postgres"): Promise<T> {
  return schema.parse(JSON.parse((await sourceSql(docker, server, `SELECT coalesce(json_agg(q), '[]') FROM (${query}) q;`, database)) || "[]"));
}

/** A file written as it streams, with its sha256 and size; 0600 (globals hold password hashes). */
async function streamToFile(stream: NodeJS.ReadableStream, file: string): Promise<{ sha256: string; bytes: number; stderr: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const stderr: Buffer[] = [];
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(stream, new Demultiplexer((chunk) => stderr.push(chunk)), tap, createWriteStream(file, { mode: 0o600 }));
  return { sha256: hash.digest("hex"), bytes, stderr: Buffer.concat(stderr).toString("utf8") };
}

/** Lines of a psql session's stdout, one at a time. */
class LineReader {
  private buffer = "";
  private waiting: Array<(line: string | undefined) => void> = [];
  private lines: string[] = [];
  private ended = false;

  constructor(output: NodeJS.ReadableStream) {
    output.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString("utf8");
      let index: number;
      while ((index = this.buffer.indexOf("\n")) >= 0) {
        this.push(this.buffer.slice(0, index));
        this.buffer = this.buffer.slice(index + 1);
      }
    });
    output.on("end", () => {
      this.ended = true;
      for (const resolve of this.waiting.splice(0)) resolve(undefined);
    });
  }

  private push(line: string): void {
    const resolve = this.waiting.shift();
    if (resolve) resolve(line);
    else this.lines.push(line);
  }

  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** One database: pg_dump of a snapshot a psql session exported, and that session's exact row counts in it. */
async function dumpDatabase(docker: DockerClient, server: SourceServer, database: string, file: string): Promise<{ sha256: string; bytes: number; rows: Record<string, number> }> {
  const session = await docker.execStream(server.container, psqlArgs(server, database), execOptions(server));
  const stdout = new PassThrough();
  const stderr: Buffer[] = [];
  const piped = pipeline(session.stream, new Demultiplexer((chunk) => stderr.push(chunk)), stdout).catch(() => undefined);
  const lines = new LineReader(stdout);
  const failed = (what: string) => new AdoptError(`${server.container}: ${what} of ${database} failed: ${Buffer.concat(stderr).toString("utf8").trim()}`, "check the old server's log (docker logs)");
  session.stream.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n");
  const snapshot = await lines.next();
  if (!snapshot || !/^[0-9A-F-]+$/i.test(snapshot)) throw failed("exporting a snapshot");
  try {
    const dump = await docker.execStream(server.container, ["pg_dump", "-Fc", "-U", server.user, `--snapshot=${snapshot}`, "-d", database], execOptions(server));
    dump.stream.end();
    const written = await streamToFile(dump.stream, file);
    const code = await dump.exitCode();
    if (code !== 0) throw new AdoptError(`pg_dump of ${database} in ${server.container} exited ${code}: ${written.stderr.trim()}`, "fix what it says, then run pgfort adopt again");
    session.stream.write(`${ROW_COUNT_QUERY}\n`);
    const counts = await lines.next();
    if (!counts) throw failed("counting the rows");
    return { sha256: written.sha256, bytes: written.bytes, rows: z.record(z.string(), z.number()).parse(JSON.parse(counts)) };
  } finally {
    session.stream.end("COMMIT;\n");
    await piped;
  }
}

/** The whole logical backup of the old server into `directory`; on any failure the directory is removed. */
export async function backupSource(docker: DockerClient, server: SourceServer, directory: string, meta: { service: string; composeFile: string }, onInfo: (message: string) => void): Promise<AdoptManifest> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  try {
    const databases = (await sourceJson(docker, server, USER_DATABASES_QUERY, z.array(z.object({ datname: z.string() })))).map((row) => row.datname);
    const roles = await sourceJson(docker, server, ROLES_QUERY, z.array(RoleSchema));
    const md5Roles = (await sourceJson(docker, server, "SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'md5%' ORDER BY 1", z.array(z.object({ rolname: z.string() })))).map((row) => row.rolname);
    const otherSessions = Number(await sourceSql(docker, server, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"));
    onInfo(`dumping the roles of ${server.container}`);
    const globals = await docker.execStream(server.container, ["pg_dumpall", "--globals-only", "-U", server.user], execOptions(server));
    globals.stream.end();
    const globalsFile = await streamToFile(globals.stream, path.join(directory, "globals.sql"));
    const globalsCode = await globals.exitCode();
    if (globalsCode !== 0) throw new AdoptError(`pg_dumpall --globals-only in ${server.container} exited ${globalsCode}: ${globalsFile.stderr.trim()}`, "fix what it says, then run pgfort adopt again");
    const dumped: AdoptManifest["databases"] = [];
    for (const [index, database] of databases.entries()) {
      onInfo(`dumping database ${database} (${index + 1}/${databases.length})`);
      const file = `${String(index).padStart(3, "0")}.dump`;
      dumped.push({ name: database, file, ...(await dumpDatabase(docker, server, database, path.join(directory, file))) });
    }
    const manifest: AdoptManifest = {
      formatVersion: 1,
      service: meta.service,
      composeFile: meta.composeFile,
      source: { container: server.container, image: server.image, versionNum: server.versionNum, user: server.user },
      takenAt: new Date().toISOString(),
      globals: { file: "globals.sql", sha256: globalsFile.sha256, bytes: globalsFile.bytes },
      databases: dumped,
      roles,
      md5Roles,
      otherSessions,
    };
    await writeFile(path.join(directory, ADOPT_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    return manifest;
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

/** A file of the backup, its sha256 checked against the manifest (streamed: dumps can be large). */
export async function checkFile(directory: string, entry: { file: string; sha256: string }): Promise<string> {
  const file = path.join(directory, entry.file);
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) hash.update(chunk);
  });
  const sha256 = hash.digest("hex");
  if (sha256 !== entry.sha256) throw new AdoptError(`${file} changed since it was written (sha256 ${sha256.slice(0, 12)}…, manifest ${entry.sha256.slice(0, 12)}…)`, "run pgfort adopt again: it takes a new backup");
  return file;
}
