// The agent's job server: a job the host hands to the running agent (`docker exec <cluster>-agent
// pgfort job …`) runs in the agent's own warm process, not in a new Node that loads pgfort again
// (measured ~0.5 s a job). The exec'd launcher's client (src/agent/job-client.ts) sends the
// arguments over a Unix socket on the agent's tmpfs; the same commands run (registerJob) with the
// connection as their IO: events go back on it, its end aborts the job (the host's Ctrl-C, or the
// host gone), a final frame carries the exit code. A job whose environment differs from the
// agent's (an S3 endpoint changed since `up`) is sent back to run in its own process.
import { chmod, rm } from "node:fs/promises";
import net from "node:net";
import { Command, CommanderError } from "commander";
import { formatJobEvent, type JobEvent } from "../jobs/events";
import { InterruptedError } from "../errors";
import { AGENT_JOB_SOCKET, formatFrame, JOB_ENV_KEYS, type JobRequest } from "../agent/job-socket";
import { LineSplitter } from "../jobs/result-line";
import { registerJob, type JobIo } from "./job";

export interface JobServer {
  /** Stops taking jobs, aborts the running ones (they clean up and answer), waits for their answers. */
  close(): Promise<void>;
}

export interface JobServerLog {
  info(message: string): void;
  warn(message: string): void;
}

function parseRequest(line: string): JobRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "the request is not JSON";
  }
  const request = value as Partial<JobRequest>;
  if (!Array.isArray(request.argv) || request.argv[0] !== "job" || !request.argv.every((item) => typeof item === "string")) return "the request names no job";
  if (typeof request.env !== "object" || request.env === null) return "the request has no environment";
  return { argv: request.argv, env: request.env };
}

/** Why this job cannot run here: a variable of the hand-off that the agent's process has otherwise. */
export function environmentMismatch(requested: Record<string, string>, own: NodeJS.ProcessEnv): string | undefined {
  const differing = JOB_ENV_KEYS.filter((key) => requested[key] !== undefined && requested[key] !== own[key]);
  return differing.length > 0 ? `the job's ${differing.join(", ")} differ from the agent's` : undefined;
}

export async function startJobServer(log: JobServerLog, socketPath = AGENT_JOB_SOCKET): Promise<JobServer> {
  const running = new Set<{ abort(reason: unknown): void; answered: Promise<void> }>();
  // Half-open: the client's end (the host's Ctrl-C) aborts the job, which then still reports its
  // cleanup on the same connection; without it Node would end our side at once and the host
  // would return before the job removed what it wrote.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => undefined);
    const lines = new LineSplitter();
    const onData = (chunk: Buffer) => {
      const [line] = lines.push(chunk);
      if (line === undefined) return;
      socket.off("data", onData);
      socket.pause();
      const request = parseRequest(line);
      if (typeof request === "string") {
        socket.end(formatFrame({ fallback: request }));
        return;
      }
      const mismatch = environmentMismatch(request.env, process.env);
      if (mismatch) {
        socket.end(formatFrame({ fallback: mismatch }));
        return;
      }
      runJob(socket, request.argv);
    };
    socket.on("data", onData);
  });

  function runJob(socket: net.Socket, argv: string[]): void {
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const aborts: Array<(reason: unknown) => void> = [];
    const entry = { abort: (reason: unknown) => aborts.forEach((abort) => abort(reason)), answered };
    running.add(entry);
    let finished = false;
    const io: JobIo = {
      emit: (event: JobEvent) => void socket.write(formatJobEvent(event)),
      watch(_options, abort) {
        aborts.push(abort);
        // The client half-closes when the host did (Ctrl-C), and the connection closes when it dies.
        socket.once("end", () => abort(new InterruptedError("SIGINT")));
        socket.once("close", () => abort(new InterruptedError("SIGINT")));
        if (socket.destroyed) abort(new InterruptedError("SIGINT"));
        socket.resume();
      },
      finish(exitCode) {
        if (finished) return;
        finished = true;
        running.delete(entry);
        socket.end(formatFrame({ exit: exitCode }));
        answer();
      },
    };
    socket.write(formatFrame({ accepted: true }));
    log.info(`running \`pgfort ${argv.join(" ")}\` for the host`);
    const program = new Command("pgfort").exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    registerJob(program, io);
    program.parseAsync(argv, { from: "user" }).catch((error: unknown) => {
      // What commander refused (an option this agent does not know: an older image), or a bug.
      const usage = error instanceof CommanderError;
      io.emit({
        event: "error",
        code: usage ? "JOB_USAGE" : "INTERNAL",
        message: `the agent cannot run \`pgfort ${argv.join(" ")}\`: ${(error as Error).message}`,
        hint: usage ? "rebuild the agent image with this pgfort (pgfort build), then pgfort up" : "report it with the message above",
        exitCode: usage ? 2 : 70,
      });
      io.finish(usage ? 2 : 70);
    });
  }

  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
  log.info(`jobs handed over by the host run in this process (socket ${socketPath})`);
  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const answers = [...running].map((job) => {
        job.abort(new InterruptedError("SIGTERM"));
        return job.answered;
      });
      await Promise.all(answers);
      await closed;
    },
  };
}
