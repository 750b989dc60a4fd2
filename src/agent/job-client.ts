// `pgfort job …` exec'd into the running agent: images/agent/pgfort.sh routes it here when the
// agent's job server listens. The arguments go over the socket, the job's events come back on
// stdout, stdin's end (the host's Ctrl-C, or the host gone) is passed on as the connection's half
// close, and the job's exit code is this process's. When the server is not there (the agent is
// starting) or answers that the job needs a process of its own, the full CLI runs instead, with
// this process's stdio. Imports nothing of pgfort but the socket's constants: it starts in ~40 ms.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { AGENT_JOB_SOCKET, formatFrame, JOB_ENV_KEYS, parseServerFrame } from "./job-socket";

function ownProcess(argv: string[]): void {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "cli", "index.js"), ...argv], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.once("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 143)));
  child.once("error", (error) => {
    process.stderr.write(`pgfort: cannot start the job: ${error.message}\n`);
    process.exit(70);
  });
}

function main(argv: string[]): void {
  const env: Record<string, string> = {};
  for (const key of JOB_ENV_KEYS) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  // Half-open both ways: our end is the host's Ctrl-C, and the job's answer still follows it.
  const socket = net.connect({ path: process.env["PGFORT_JOB_SOCKET"] ?? AGENT_JOB_SOCKET, allowHalfOpen: true });
  socket.once("end", () => socket.end());
  let accepted = false;
  let exitCode: number | undefined;
  let pending = "";
  socket.setEncoding("utf8");
  socket.once("connect", () => socket.write(formatFrame({ argv, env })));
  socket.on("data", (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const frame = parseServerFrame(line);
      if (!frame) process.stdout.write(`${line}\n`);
      else if ("accepted" in frame) {
        accepted = true;
        // With --stdin-lifeline the host sends nothing, only its end; without it stdin means
        // nothing (a `docker exec` without -i has none), as for the job run as its own process.
        if (argv.includes("--stdin-lifeline")) {
          process.stdin.on("end", () => socket.end()).on("error", () => socket.destroy());
          process.stdin.resume();
        }
      } else if ("fallback" in frame) {
        socket.destroy();
        ownProcess(argv);
        return;
      } else exitCode = frame.exit;
      newline = pending.indexOf("\n");
    }
  });
  socket.on("error", (error) => {
    // Nobody listens (yet, or any more): the job runs as its own process, as in a one-off container.
    if (!accepted) {
      socket.destroy();
      ownProcess(argv);
      return;
    }
    process.stderr.write(`pgfort: lost the agent's job server: ${error.message}\n`);
  });
  socket.on("close", () => {
    if (!accepted) return; // ownProcess took over, or the error above said why
    if (pending) process.stdout.write(pending);
    process.stdin.pause();
    process.stdout.write("", () => process.exit(exitCode ?? 1));
  });
}

main(process.argv.slice(2));
