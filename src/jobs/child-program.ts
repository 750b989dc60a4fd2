// Runs one verb of pgfort-job as a child process of pgfort: how jobs run inside the agent image
// (the tools are there, beside the Node that runs pgfort), with no Docker in between. stdout is
// piped with backpressure into the given streams, stdin from the given one; the tool's stderr is
// kept (its tail, for messages) and its PGFORT-RESULT line returned. Aborting kills the program's
// whole process group (pg_dump | dd | zstd), waits for it, and rejects with the signal's reason.
import { spawn } from "node:child_process";
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LineSplitter, parseResultLine, RESULT_PREFIX, TextTail } from "./result-line";

/** One program: a pgfort-job verb and its parameters, as environment only (src/backup/plan.ts JobProgram). */
export interface ChildProgram {
  verb: string;
  env: Record<string, string>;
}

export interface ChildProgramRequest {
  stdout?: Writable[];
  stdin?: Readable;
  signal?: AbortSignal | undefined;
  /** The job program to run; `pgfort-job` on PATH in the image, a script path in unit tests. */
  command?: string;
  /** Environment beside the program's own (PATH, PGFORT_TMP…); the program's keys win. */
  baseEnv?: Record<string, string>;
}

export interface ChildProgramResult {
  /** The exit status, or 128 + the signal's number when a signal ended it (as a shell reports it). */
  exitCode: number;
  stderr: TextTail;
  result: unknown;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

export async function runChildProgram(program: ChildProgram, request: ChildProgramRequest = {}): Promise<ChildProgramResult> {
  const { signal } = request;
  signal?.throwIfAborted();
  const child = spawn(request.command ?? "pgfort-job", [program.verb], {
    env: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", ...request.baseEnv, ...program.env },
    stdio: [request.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    // Its own process group: an abort reaches every stage of the program's pipelines.
    detached: true,
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, killedBy) => resolve(code ?? 128 + (SIGNAL_NUMBERS[killedBy ?? ""] ?? 0)));
  });
  const killGroup = (how: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, how);
    } catch {
      // already gone
    }
  };
  const { stdout: output, stderr: errors } = child;
  if (!output || !errors) throw new Error("spawn gave no stdout or stderr pipe");
  const stderr = new TextTail(64 * 1024);
  const lines = new LineSplitter();
  let result: unknown;
  const take = (line: string) => {
    if (line.startsWith(RESULT_PREFIX)) result = parseResultLine(line);
    else stderr.append(Buffer.from(`${line}\n`));
  };
  errors.on("data", (chunk: Buffer) => lines.push(chunk).forEach(take));
  const onAbort = () => killGroup("SIGTERM");
  signal?.addEventListener("abort", onAbort, { once: true });
  const options = signal ? { signal } : {};
  const flows: Array<Promise<void>> = [pipeline([output, ...(request.stdout ?? [discard()])], options)];
  if (request.stdin && child.stdin) flows.push(pipeline(request.stdin, child.stdin, options).catch(ignoreEarlyClose));
  try {
    try {
      await Promise.all(flows);
    } catch (error) {
      // A broken stream (the target failed, the abort): the tool must not run on for nothing.
      killGroup("SIGTERM");
      await Promise.allSettled(flows);
      await exited.catch(() => undefined);
      throw signal?.aborted ? signal.reason : error;
    }
    const exitCode = await exited;
    signal?.throwIfAborted();
    lines.flush().forEach(take);
    return { exitCode, stderr, result };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The program may exit without reading all of its stdin (it failed): its exit status says why, not EPIPE. */
function ignoreEarlyClose(error: NodeJS.ErrnoException): void {
  if (error.code === "EPIPE" || error.code === "ERR_STREAM_PREMATURE_CLOSE") return;
  throw error;
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
