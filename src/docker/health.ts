// Waiting for a container's healthcheck, and reading the end of its log to explain a failure.
import { ContainerError } from "../errors";
import type { DockerClient } from "./client";
import { Demultiplexer } from "./demultiplex";
import { NOT_YET, pollUntil } from "../lifecycle/poll";

/** The demultiplexed text of `readLog`'s answer (a log's last lines), or a placeholder when there is none. */
export async function logTail(readLog: () => Promise<Buffer>): Promise<string> {
  try {
    const raw = await readLog();
    const text: Buffer[] = [];
    const demultiplexer = new Demultiplexer((chunk) => text.push(chunk));
    demultiplexer.on("data", (chunk: Buffer) => text.push(chunk));
    demultiplexer.end(raw);
    await new Promise((resolve) => demultiplexer.on("end", resolve).on("error", resolve));
    return Buffer.concat(text).toString("utf8").trimEnd();
  } catch {
    return "(no log available)";
  }
}

export async function waitUntilHealthy(docker: DockerClient, name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const fail = async (failure: string) =>
    new ContainerError(
      `container ${name} ${failure}; its last log lines:\n${await docker.logTail(name, 30)}`,
      `read the log above; \`docker logs ${name}\` has all of it`,
    );
  await pollUntil(
    { timeoutMs, intervalMs: 250, signal },
    async () => {
      const info = await docker.inspectContainerIfExists(name);
      const health = info?.State.Health?.Status;
      if (health === "healthy") return { done: true, value: undefined };
      const failure = !info
        ? "disappeared"
        : (!info.State.Running && !info.State.Restarting) || info.RestartCount > 0
          ? `exited with code ${info.State.ExitCode}${info.RestartCount > 0 ? " (and keeps being restarted)" : ""}`
          : health === "unhealthy"
            ? "is unhealthy"
            : undefined;
      if (failure) throw await fail(failure);
      return NOT_YET;
    },
    () => fail(`is not healthy after ${Math.round(timeoutMs / 1000)} s`),
  );
}
