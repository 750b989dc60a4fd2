// `pgfort adopt --compose FILE --service NAME [--write]`: an official-image PostgreSQL service of a
// Compose project becomes the pgfort cluster of pgfort.yaml. A logical backup of the running
// service (./source.ts, kept under .pgfort/<cluster>/adopt/), `pgfort up`, the roles and databases
// restored into the new primary, then every table's row count and every role compared with the
// backup's; only then are the compose file's changed lines printed (and written with --write,
// after a copy of the file). Nothing of the old service is stopped or deleted.
import { createReadStream } from "node:fs";
import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { Demultiplexer } from "../docker/demultiplex";
import { containerName, networkName } from "../docker/names";
import { AdoptError, ConfigError } from "../errors";
import { REPLICATION_USER, SECRETS, SUPERUSER, secretsDir } from "../cluster/plan";
import { queryRows, runSql, USER_DATABASES_QUERY } from "../cluster/sql";
import { readTopology } from "../cluster/topology";
import { ROW_COUNT_QUERY } from "../backup/plan";
import { readJsonFile, writeJsonFileAtomic, writeTextFileAtomic } from "../state/json-file";
import { upCluster } from "../orchestrate/up";
import type { UpListener } from "../cluster/up";
import { planComposeEdit, readComposeService } from "./compose-file";
import { filterGlobals } from "./globals";
import { backupSource, checkFile, findSourceContainer, readSource, RoleSchema, ROLES_QUERY, type AdoptManifest, type Role } from "./source";

export interface AdoptOptions {
  composeFile: string;
  service: string;
  write: boolean;
  listener?: UpListener;
}

export interface DatabaseCheck {
  name: string;
  tables: number;
  rows: number;
  /** Tables whose count in the cluster differs from the backup's: `schema.table backup→cluster`. */
  differences: string[];
}

export interface AdoptResult {
  cluster: string;
  service: string;
  source: { container: string; image: string; versionNum: number };
  /** "now": this run moved the data; "before": an earlier run did (its record), only the file is handled. */
  adopted: "now" | "before";
  backupDirectory: string;
  databases: DatabaseCheck[];
  roles: string[];
  diff: string[];
  changedServices: string[];
  written: { file: string; copy: string } | undefined;
  primary: string;
  warnings: string[];
}

const ADOPTED_FILE = "adopted.json";
const AdoptedSchema = z.object({
  service: z.string(),
  composeFile: z.string(),
  backupDirectory: z.string(),
  adoptedAt: z.string(),
  source: z.object({ container: z.string(), image: z.string(), versionNum: z.number() }),
  databases: z.array(z.object({ name: z.string(), tables: z.number(), rows: z.number(), differences: z.array(z.string()) })),
  roles: z.array(z.string()),
  warnings: z.array(z.string()),
});

export async function adopt(docker: DockerClient, loaded: LoadedConfig, options: AdoptOptions): Promise<AdoptResult> {
  const { config, stateDir } = loaded;
  const file = path.resolve(options.composeFile);
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read ${file}: ${error.code ?? error.message}`, "point --compose at your compose file");
  });
  const service = readComposeService(text, file, options.service);
  const { primary: primaryNode } = await readTopology(stateDir);
  const primary = containerName(config.cluster, primaryNode);
  const record = await readJsonFile(path.join(stateDir, ADOPTED_FILE), AdoptedSchema);
  let adopted: z.infer<typeof AdoptedSchema>;
  let when: AdoptResult["adopted"];
  if (record.ok) {
    if (record.value.service !== service.name || record.value.composeFile !== file) {
      throw new ConfigError(`the cluster ${config.cluster} was adopted from service ${record.value.service} of ${record.value.composeFile} (${record.value.adoptedAt})`, "adopt another service into another cluster (its own pgfort.yaml and cluster name)");
    }
    adopted = record.value;
    when = "before";
  } else {
    adopted = await moveData(docker, loaded, file, service.name, service.containerName, primary, options.listener ?? {});
    await writeJsonFileAtomic(path.join(stateDir, ADOPTED_FILE), adopted, { mode: 0o600 });
    when = "now";
  }
  const edit = planComposeEdit(text, file, service.name, { host: primary, network: networkName(config.cluster) });
  let written: AdoptResult["written"];
  if (options.write && edit.diff.length > 0) {
    const copy = `${file}.before-pgfort-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}`;
    await copyFile(file, copy);
    await writeTextFileAtomic(file, edit.text, { mode: (await stat(file)).mode & 0o777 });
    written = { file, copy };
  }
  return {
    cluster: config.cluster,
    service: service.name,
    source: adopted.source,
    adopted: when,
    backupDirectory: adopted.backupDirectory,
    databases: adopted.databases,
    roles: adopted.roles,
    diff: edit.diff,
    changedServices: edit.changedServices,
    written,
    primary,
    warnings: adopted.warnings,
  };
}

/** Backup, up, restore, compare. Refuses a cluster that holds data already. */
async function moveData(docker: DockerClient, loaded: LoadedConfig, file: string, serviceName: string, containerNameHint: string | undefined, primary: string, listener: UpListener): Promise<z.infer<typeof AdoptedSchema>> {
  const { config, stateDir } = loaded;
  const container = await findSourceContainer(docker, file, serviceName, containerNameHint);
  const server = await readSource(docker, container);
  const sourceMajor = Math.floor(server.versionNum / 10000);
  if (sourceMajor > config.image.pgMajor) {
    throw new ConfigError(`${container} runs PostgreSQL ${sourceMajor}, newer than this cluster's ${config.image.pgMajor}`, `set image.pgMajor: ${sourceMajor} or newer in pgfort.yaml`);
  }
  await refuseNonEmpty(docker, primary);
  const warnings: string[] = [];
  await seedSuperuserPassword(stateDir, server.user, server.password, warnings);
  const directory = path.join(stateDir, "adopt", `${serviceName}-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}`);
  listener.onInfo?.(`taking a logical backup of ${container} (PostgreSQL ${sourceMajor}) into ${directory}`);
  const manifest = await backupSource(docker, server, directory, { service: serviceName, composeFile: file }, (message) => listener.onInfo?.(message));
  if (manifest.otherSessions > 0) warnings.push(`${manifest.otherSessions} other session(s) were connected to ${container} during the backup: what they wrote after it is not in ${config.cluster}; stop the applications, then adopt into a new cluster again if that matters`);
  if (manifest.md5Roles.length > 0) warnings.push(`role(s) ${manifest.md5Roles.join(", ")} have MD5 passwords, which pgfort's scram-sha-256 authentication refuses: set each again (ALTER ROLE … PASSWORD '…') on ${primary}`);
  listener.onInfo?.(`bringing up ${config.cluster}`);
  await upCluster(docker, loaded, listener);
  await restore(docker, primary, directory, manifest, listener);
  const databases = await compareRows(docker, primary, manifest);
  const roles = await compareRoles(docker, primary, manifest.roles);
  const broken = databases.filter((database) => database.differences.length > 0);
  if (broken.length > 0) {
    throw new AdoptError(
      `the restored row counts differ from the backup's: ${broken.map((database) => `${database.name}: ${database.differences.slice(0, 5).join(", ")}`).join("; ")}`,
      `nothing of ${container} was touched; the backup is in ${directory}; remove the cluster (pgfort down --volumes) and run pgfort adopt again`,
    );
  }
  return {
    service: serviceName,
    composeFile: file,
    backupDirectory: directory,
    adoptedAt: new Date().toISOString(),
    source: { container, image: server.image, versionNum: server.versionNum },
    databases,
    roles,
    warnings,
  };
}

/** The cluster's primary, when it runs, holds nothing but empty databases: adopt never restores over data. */
async function refuseNonEmpty(docker: DockerClient, primary: string): Promise<void> {
  const info = await docker.inspectContainerIfExists(primary);
  if (!info?.State.Running) return;
  const databases = (await queryRows(docker, primary, USER_DATABASES_QUERY, z.object({ datname: z.string() }))).map((row) => row.datname);
  const tables = Number(await runSql(docker, primary, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%';"));
  if (databases.some((name) => name !== "postgres") || tables > 0) {
    throw new ConfigError(`the cluster's primary ${primary} holds data already (databases: ${databases.join(", ")}; ${tables} table(s) in postgres)`, "adopt into a new cluster: another cluster name in pgfort.yaml, or pgfort down --volumes first if this one may go");
  }
}

/**
 * When the old superuser is `postgres` and its password is known and pgfort has not made one yet:
 * pgfort's password for it is the old one, so applications logging in as postgres keep working.
 */
async function seedSuperuserPassword(stateDir: string, user: string, password: string | undefined, warnings: string[]): Promise<void> {
  if (user !== SUPERUSER) return;
  const target = path.join(secretsDir(stateDir), SECRETS.superuser.name);
  if (!password) {
    warnings.push(`the old superuser postgres had no password in its environment: it logs in with pgfort's now (${target})`);
    return;
  }
  await mkdir(secretsDir(stateDir), { recursive: true, mode: 0o700 });
  try {
    await writeFile(target, password, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    if ((await readFile(target, "utf8")) !== password) warnings.push(`postgres logs in with pgfort's password (${target}), not the old service's: this cluster had one already`);
  }
}

/** pg_restore of one dump into the primary, streamed from the file through its stdin. */
async function streamInto(docker: DockerClient, primary: string, command: string[], file: string): Promise<void> {
  const exec = await docker.execStream(primary, command);
  const stderr: Buffer[] = [];
  const input = createReadStream(file);
  const inputFailed = new Promise<Error>((resolve) => input.once("error", resolve));
  input.pipe(exec.stream as NodeJS.WritableStream);
  // The output ends when the program exits (after reading to the end of the file, or early on an
  // error): the file is then closed whatever it was doing, so nothing waits on a dead reader.
  const outputError = await pipeline(exec.stream, new Demultiplexer((chunk) => stderr.push(chunk)), new PassThrough().resume()).then(
    () => undefined,
    (error: Error) => error,
  );
  input.destroy();
  const readError = await Promise.race([inputFailed, Promise.resolve(undefined)]);
  const code = await exec.exitCode();
  if (code !== 0 || outputError || readError) {
    const cause = Buffer.concat(stderr).toString("utf8").trim().split("\n").slice(-5).join(" / ") || (readError ?? outputError)?.message || "";
    throw new AdoptError(`${command[0] ?? "restore"} into ${primary} exited ${code}: ${cause}`, "the backup is kept; remove the cluster (pgfort down --volumes), fix what it says, and run pgfort adopt again");
  }
}

async function restore(docker: DockerClient, primary: string, directory: string, manifest: AdoptManifest, listener: UpListener): Promise<void> {
  listener.onInfo?.(`restoring the roles into ${primary}`);
  const globals = await readFile(await checkFile(directory, manifest.globals), "utf8");
  await runSql(docker, primary, filterGlobals(globals, [SUPERUSER, REPLICATION_USER]));
  for (const database of manifest.databases) {
    listener.onInfo?.(`restoring database ${database.name}`);
    const file = await checkFile(directory, database);
    const target = database.name === "postgres" ? ["-d", "postgres"] : ["--create", "-d", "postgres"];
    await streamInto(docker, primary, ["pg_restore", "--exit-on-error", "--no-password", "-U", SUPERUSER, ...target], file);
  }
}

async function compareRows(docker: DockerClient, primary: string, manifest: AdoptManifest): Promise<DatabaseCheck[]> {
  const checks: DatabaseCheck[] = [];
  for (const database of manifest.databases) {
    const restored = z.record(z.string(), z.number()).parse(JSON.parse((await runSql(docker, primary, ROW_COUNT_QUERY, database.name)) || "{}"));
    const tables = new Set([...Object.keys(database.rows), ...Object.keys(restored)]);
    const differences = [...tables].filter((table) => database.rows[table] !== restored[table]).map((table) => `${table} ${database.rows[table] ?? "absent"}→${restored[table] ?? "absent"}`);
    checks.push({ name: database.name, tables: Object.keys(database.rows).length, rows: Object.values(database.rows).reduce((sum, rows) => sum + rows, 0), differences });
  }
  return checks;
}

/** Every role of the old server is in the cluster with the same attributes; the cluster's own are the only others. */
async function compareRoles(docker: DockerClient, primary: string, source: readonly Role[]): Promise<string[]> {
  const restored = await queryRows(docker, primary, ROLES_QUERY, RoleSchema);
  const byName = new Map(restored.map((role) => [role.rolname, role]));
  const differences = source.filter((role) => JSON.stringify(byName.get(role.rolname)) !== JSON.stringify(role)).map((role) => role.rolname);
  const extra = restored.filter((role) => !source.some((other) => other.rolname === role.rolname) && role.rolname !== SUPERUSER && role.rolname !== REPLICATION_USER);
  if (differences.length > 0 || extra.length > 0) {
    throw new AdoptError(`the restored roles differ from the old server's: ${[...differences.map((name) => `${name} (attributes)`), ...extra.map((role) => `${role.rolname} (not in the old server)`)].join(", ")}`, "the backup is kept; compare SELECT * FROM pg_roles on both servers");
  }
  return source.map((role) => role.rolname);
}
