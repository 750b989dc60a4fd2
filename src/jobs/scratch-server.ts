// A drill's scratch PostgreSQL server: a child of the job, in a directory of its own under the
// scratch volume (data directory, config, log and its Unix socket; nothing on the read-only root,
// no TCP). Started and stopped by pgfort-job's scratch-* verbs; removed with its directory always.
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { BackupError } from "../errors";
import { CheckFailedError } from "../backup/checksums";
import { runChildProgram, type ChildProgram } from "./child-program";
import { processStartTime } from "./scratch-settings";
import { decryptionFailure } from "./tool-failure";

/** The superuser of a scratch server: initdb's -U, and the source's own superuser in a base backup. */
export const SCRATCH_USER = "postgres";
const DRILL_DIR = /^drill-[0-9a-f]{6,}$/;
const OWNER_FILE = "owner";

export interface ScratchServerOptions {
  /** The scratch volume (AGENT_SCRATCH_DIR in the agent image). */
  scratchDir: string;
  /** `pgfort-job` on PATH; a script path in unit tests. */
  command?: string;
  signal?: AbortSignal | undefined;
  /** The keys the drilled backup was encrypted to, named when the identity fits none. */
  recipients?: readonly string[] | undefined;
}

/** Why a verb failed, as the drill reports it: a check that said no, or an error that stopped it. */
export interface StepFailure {
  /** The check's name when the tool refused the backup (exit 1-127); absent: an error, not a verdict. */
  check?: string;
}

export class ScratchServer {
  /** The server's socket directory: PGHOST for every client. */
  readonly socketDir: string;
  readonly dataDir: string;

  private constructor(
    readonly dir: string,
    private readonly options: ScratchServerOptions,
    dataDir?: string,
  ) {
    this.socketDir = dir;
    this.dataDir = dataDir ?? path.join(dir, "data");
  }

  /**
   * A private server (config, log, socket in a new directory of its own) on a data directory that
   * is not the scratch volume's: a point-in-time restore's recovery, in the new server's volume.
   * remove() removes only its own directory, never that data directory.
   */
  static async on(dataDir: string, options: ScratchServerOptions): Promise<ScratchServer> {
    const dir = path.join(options.scratchDir, `recover-${randomBytes(4).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    return new ScratchServer(dir, options, dataDir);
  }

  /** The server's log so far (empty when there is none yet). */
  async log(): Promise<string> {
    return readFile(path.join(this.dir, "server.log"), "utf8").catch(() => "");
  }

  /**
   * Waits until the postmaster has exited (it removes postmaster.pid last, after its final log
   * line): the log is then whole, and the data directory free for another start.
   */
  async exited(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (await stat(path.join(this.dataDir, "postmaster.pid")).then(() => true, () => false)) {
      if (Date.now() > deadline) throw new BackupError(`the server on ${this.dataDir} did not exit within ${timeoutMs / 1000} s of stopping`, "it is killed with the job's container; run the restore again");
      this.options.signal?.throwIfAborted();
      await sleep(100);
    }
  }

  /** A new directory drill-<random> (mode 0700) with an owner mark: the next drill can tell it from a live one. */
  static async create(options: ScratchServerOptions): Promise<ScratchServer> {
    const dir = path.join(options.scratchDir, `drill-${randomBytes(4).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    await writeFile(path.join(dir, OWNER_FILE), await ownerMark(process.pid));
    return new ScratchServer(dir, options);
  }

  /**
   * Removes what drills of dead processes left (a container killed mid-drill keeps its scratch
   * volume in the agent): each drill directory names its owner's pid and start time.
   */
  static async sweepStale(options: ScratchServerOptions): Promise<string[]> {
    const removed: string[] = [];
    for (const name of (await readdir(options.scratchDir)).filter((entry) => DRILL_DIR.test(entry))) {
      const dir = path.join(options.scratchDir, name);
      const owner = await readFile(path.join(dir, OWNER_FILE), "utf8").catch(() => "");
      const pid = Number(owner.split(" ")[0]);
      if (Number.isInteger(pid) && pid > 0 && (await ownerMark(pid).catch(() => "")) === owner) continue;
      // A postmaster of a dead drill is dead too (or stops itself once its directory is gone): only the removal must succeed.
      await new ScratchServer(dir, { ...options, signal: undefined }).remove("immediate").catch(() => rm(dir, { recursive: true, force: true }));
      removed.push(dir);
    }
    return removed;
  }

  /** An empty data directory for an extracted base backup. */
  async makeDataDir(): Promise<void> {
    await mkdir(this.dataDir, { mode: 0o700 });
  }

  async init(locale: string | undefined): Promise<void> {
    await this.run({ verb: "scratch-init", env: { PGFORT_DATA_DIR: this.dataDir, ...(locale ? { PGFORT_LOCALE: locale } : {}) } }, "initdb of the scratch server", {});
  }

  /** Starts it (through recovery, for a base backup); `failure.check` names the check a refusal fails. */
  async start(settingsText: string, failure: StepFailure): Promise<void> {
    await this.run(
      { verb: "scratch-start", env: { PGFORT_DATA_DIR: this.dataDir, PGFORT_SCRATCH_DIR: this.dir, PGFORT_SCRATCH_CONF: settingsText } },
      "starting the scratch server",
      failure,
    );
  }

  /** A pgfort-job verb with stdin from the target (extract-base, restore-*), against this server. */
  async feed(program: ChildProgram, input: Readable | undefined, what: string, failure: StepFailure): Promise<unknown> {
    const env: Record<string, string> = { ...program.env, PGFORT_PGHOST: this.socketDir, PGFORT_PGUSER: SCRATCH_USER };
    // The image's default data directory becomes this server's; one inside it (a chain's link) stays.
    const dataDir = program.env["PGFORT_DATA_DIR"];
    if (dataDir !== undefined && dataDir !== this.dataDir && !dataDir.startsWith(`${this.dataDir}/`)) env.PGFORT_DATA_DIR = this.dataDir;
    return this.run({ verb: program.verb, env }, what, failure, input);
  }

  /** A client tool (pg_amcheck, psql) on this server's socket; its exit code is the caller's to judge. */
  tool(argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const [command, ...args] = argv;
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", PGHOST: this.socketDir, PGPORT: "5432", PGUSER: SCRATCH_USER, PGCONNECT_TIMEOUT: "10" };
    return new Promise((resolve, reject) => {
      execFile(command ?? "", args, { env, maxBuffer: 64 * 1024 * 1024, ...(this.options.signal ? { signal: this.options.signal } : {}) }, (error, stdout, stderr) => {
        if (this.options.signal?.aborted) return reject(this.options.signal.reason);
        const code = (error as { code?: unknown } | null)?.code;
        if (error && typeof code !== "number") return reject(new BackupError(`${command} could not run: ${error.message}`, "the job's image must have the PostgreSQL client tools"));
        resolve({ exitCode: typeof code === "number" ? code : 0, stdout, stderr });
      });
    });
  }

  /** Stops the server (fast; immediate on abort) and removes its directory: every step tried, the first error kept. */
  async remove(mode: "fast" | "immediate"): Promise<void> {
    let stopError: unknown;
    await runChildProgram({ verb: "scratch-stop", env: { PGFORT_DATA_DIR: this.dataDir, PGFORT_STOP_MODE: mode } }, this.request())
      .then((result) => {
        if (result.exitCode !== 0) stopError = new BackupError(`the scratch server did not stop (exit ${result.exitCode}): ${result.stderr.lastLines(8)}`, "it is killed with the job's container");
      })
      .catch((error: unknown) => (stopError = error));
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    if (stopError) throw stopError;
  }

  private request(input?: Readable) {
    return { ...(this.options.command ? { command: this.options.command } : {}), ...(input ? { stdin: input } : {}) };
  }

  /** The verb's result line (PGFORT-RESULT {…}), parsed. */
  private async run(program: ChildProgram, what: string, failure: StepFailure, input?: Readable): Promise<unknown> {
    const result = await runChildProgram(program, { ...this.request(input), signal: this.options.signal });
    if (result.exitCode === 0 && result.result !== undefined) return result.result;
    // A wrong or missing identity says nothing of the backup: an error, never a failed check.
    const undecryptable = decryptionFailure(result.stderr.toString(), what, this.options.recipients);
    if (undecryptable) throw undecryptable;
    const errors = result.stderr
      .toString()
      .split("\n")
      .filter((line) => /^psql: .*ERROR/.test(line));
    const message = `${what} failed (exit ${result.exitCode}): ${errors.join("; ") || result.stderr.lastLines(8) || "no output"}`;
    const hint = "read the message above; the scratch server and its directory were removed";
    // The tool ran and refused the backup (exit 1-127, psql's ERROR lines): a failed check.
    // 128+ is a signal (the OOM killer, an abort): the drill was stopped, which says nothing of the backup.
    if (failure.check !== undefined && result.exitCode > 0 && result.exitCode < 128) {
      throw new CheckFailedError(message, hint, [{ name: failure.check, ok: false, detail: message }]);
    }
    throw new BackupError(message, hint);
  }
}

/** `PID STARTTIME` of a live process, from /proc: a pid reused after a restart has another start time. */
async function ownerMark(pid: number): Promise<string> {
  const start = processStartTime(await readFile(`/proc/${pid}/stat`, "utf8"));
  return `${pid} ${start ?? "unknown"}`;
}
