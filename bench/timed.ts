// A command run to its end by a benchmark, with its wall time and its output.
import { spawn } from "node:child_process";

export interface TimedRun {
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` and resolves with its wall time and output; rejects with its output's tail when it fails. */
export function timed(command: string, args: string[], cwd?: string): Promise<TimedRun> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.slice(-4000)}${stdout.slice(-2000)}`));
      else resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout, stderr });
    });
  });
}
