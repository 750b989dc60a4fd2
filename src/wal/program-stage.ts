// A program (zstd, lz4, age) as a stage of WAL's way to and from the target: stdin in, stdout
// out, its exit status and stderr turned into the caller's error. Used as a stream stage (fetch)
// and on a whole buffer (store).
import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import { WalArchiveError, type PgfortError } from "../errors";

export type StageFailure = (stderr: string, code: number | null) => PgfortError;

export interface ProgramStage {
  duplex: Duplex;
  /** Settles when the program exits: rejected with `failure` for a non-zero status. */
  done: Promise<void>;
}

export function programStage(argv: readonly string[], failure: StageFailure): ProgramStage {
  const [command = "", ...args] = argv;
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.once("error", (cause) => reject(new WalArchiveError(`${command} could not run: ${cause.message}`, "the image must have zstd, lz4 and age (rebuild it with pgfort build)")));
    child.once("close", (code) => (code === 0 ? resolve() : reject(failure(stderr.trim(), code))));
  });
  child.stdin.on("error", () => undefined); // a program that died early: its exit status says why
  return { duplex: Duplex.from({ writable: child.stdin, readable: child.stdout }), done };
}

/** The program over a whole buffer: its stdout back whole. */
export async function filterBuffer(argv: readonly string[], input: Buffer, failure: StageFailure): Promise<Buffer> {
  const { duplex, done } = programStage(argv, failure);
  const chunks: Buffer[] = [];
  duplex.on("data", (chunk: Buffer) => chunks.push(chunk));
  const drained = new Promise<void>((resolve, reject) => duplex.once("end", resolve).once("error", reject));
  duplex.end(input);
  await Promise.all([done, drained]);
  return Buffer.concat(chunks);
}
