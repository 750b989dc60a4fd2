// What a job needs from where it runs: the primary over SQL, its programs as child processes, the
// CPUs it may use. The real one (openJobRuntime) runs inside a container of the agent image; unit
// tests pass a plain fake.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import type { AgentConfig } from "../agent/contract";
import type { Credentials, JobProgram } from "../backup/plan";
import type { QueryIn } from "../backup/corrupt-pages";
import { SECRETS_DIR } from "../cluster/secrets";
import { runChildProgram, type ChildProgramResult } from "./child-program";
import { z } from "zod";
import { connectPrimary, connectServer, readSecretFile, SUPERUSER_SECRET, type SqlSession } from "./postgres";

export interface ProgramRun {
  program: JobProgram;
  credentials: Credentials;
  stdout: Writable[];
  signal?: AbortSignal | undefined;
  /** Files written into the program's PGFORT_TMP before it starts, by name. */
  inputs?: Readonly<Record<string, Buffer>>;
  /** Files of its PGFORT_TMP read back after it ends (absent ones are left out). */
  outputs?: readonly string[];
}

export type ProgramOutcome = ChildProgramResult & { outputs: Record<string, Buffer> };

export interface JobRuntime {
  /** The primary, connected as the superuser; `primary.host` is its name on the cluster network. */
  readonly primary: SqlSession;
  /** A query in another database of the primary. */
  readonly queryIn: QueryIn;
  /** CPUs the job's process sees (the container's limit caps what the compressor gets: backups.resources.cpus). */
  readonly cpus: number;
  readonly secretsDir: string;
  runProgram(run: ProgramRun): Promise<ProgramOutcome>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  secretsDir?: string;
  /** The job program: `pgfort-job` on PATH in the image; a script in tests. */
  command?: string;
}

export async function openJobRuntime(agent: AgentConfig, options: RuntimeOptions = {}): Promise<JobRuntime> {
  const secretsDir = options.secretsDir ?? SECRETS_DIR;
  const password = await readSecretFile(SUPERUSER_SECRET, secretsDir);
  const primary = await connectPrimary(agent.servers, password);
  // The tools go where the session went; a base backup over the socket only where pg_hba lets
  // replication in there (a data directory made before pgfort had that line replicates over TCP).
  const dumpHost = primary.socketDir ?? primary.host;
  const replicationHost = primary.socketDir && (await allowsLocalReplication(primary)) ? primary.socketDir : primary.host;
  return {
    primary,
    cpus: availableParallelism(),
    secretsDir,
    queryIn: async (database, sql, row) => {
      if (database === "postgres") return primary.query(sql, row);
      const session = await connectServer(primary.host, password, database);
      try {
        return await session.query(sql, row);
      } finally {
        await session.close();
      }
    },
    runProgram: (run) => runProgramOn(run.program.verb === "basebackup" ? replicationHost : dumpHost, secretsDir, run, options.command),
    close: () => primary.close(),
  };
}

const HbaRow = z.object({ allowed: z.boolean() });

/** Whether the server's pg_hba.conf has a `local replication` line (as its file reads now). */
async function allowsLocalReplication(primary: SqlSession): Promise<boolean> {
  const sql = "SELECT count(*) > 0 AS allowed FROM pg_hba_file_rules WHERE type = 'local' AND 'replication' = ANY(database) AND error IS NULL";
  const [row] = await primary.query(sql, HbaRow).catch(() => []);
  return row?.allowed ?? false;
}

/**
 * One program, with a private scratch directory: programs of one job run side by side (globals
 * beside the first database) and each writes its pgpass file and dd's report there.
 */
async function runProgramOn(host: string, secretsDir: string, run: ProgramRun, command: string | undefined): Promise<ProgramOutcome> {
  const scratch = await mkdtemp(path.join(tmpdir(), "pgfort-job-"));
  try {
    for (const [name, bytes] of Object.entries(run.inputs ?? {})) await writeFile(path.join(scratch, name), bytes, { mode: 0o600 });
    const result = await runChildProgram(
      { verb: run.program.verb, env: run.program.env },
      {
        stdout: run.stdout,
        signal: run.signal,
        ...(command ? { command } : {}),
        baseEnv: {
          PGFORT_TMP: scratch,
          PGFORT_PGHOST: host,
          PGFORT_PGUSER: run.credentials.user,
          PGFORT_SECRET_FILE: path.join(secretsDir, run.credentials.secret),
        },
      },
    );
    const outputs: Record<string, Buffer> = {};
    for (const name of run.outputs ?? []) {
      const bytes = await readFile(path.join(scratch, name)).catch(() => undefined);
      if (bytes) outputs[name] = bytes;
    }
    return { ...result, outputs };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
