// Short commands in a running container (queries, pg_ctl, postgres -C): output collected as text.
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import type Dockerode from "dockerode";
import { Demultiplexer } from "./demultiplex";

export interface ExecOptions {
  user?: string;
  env?: string[];
  /** Written to the command's stdin, then closed (SQL for psql, so it never shows in argv). */
  stdin?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function execIn(container: Dockerode.Container, command: string[], options: ExecOptions): Promise<ExecResult> {
  const exec = await container.exec({
    Cmd: command,
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: options.stdin !== undefined,
    User: options.user ?? "",
    Env: options.env,
  });
  const stream = await exec.start({ hijack: true, stdin: options.stdin !== undefined });
  if (options.stdin !== undefined) stream.end(options.stdin);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const collect = new PassThrough();
  collect.on("data", (chunk: Buffer) => stdout.push(chunk));
  await pipeline(stream, new Demultiplexer((chunk) => stderr.push(chunk)), collect);
  const { ExitCode } = await exec.inspect();
  return {
    exitCode: ExitCode ?? -1,
    stdout: Buffer.concat(stdout).toString("utf8"),
    stderr: Buffer.concat(stderr).toString("utf8"),
  };
}

/** A long command's streams: the multiplexed output (and its stdin, hijacked), and its exit code once it ended. */
export interface ExecStream {
  stream: NodeJS.ReadWriteStream;
  exitCode(): Promise<number>;
}

export async function startExecStream(container: Dockerode.Container, command: string[], options: { user?: string; env?: string[] }): Promise<ExecStream> {
  const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: true, User: options.user ?? "", Env: options.env });
  const stream = await exec.start({ hijack: true, stdin: true });
  return { stream, exitCode: async () => (await exec.inspect()).ExitCode ?? -1 };
}
