import { execFile } from "node:child_process";
import path from "node:path";

const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "index.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built pgfort CLI as a user would, without a TTY. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...options.env }, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
