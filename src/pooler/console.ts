// PgBouncer's admin console, reached inside the pooler container over its own socket (peer
// authentication as the container's user: no password). RELOAD, PAUSE, RESUME, SHOW.
import type { DockerClient } from "../docker/client";
import { ContainerError } from "../errors";
import { SUPERUSER } from "../cluster/plan";
import { POOLER_PORT, poolerContainerName, poolerSocketDir } from "./plan";

export type ConsoleCommand = "RELOAD" | "PAUSE" | "RESUME" | "SHOW POOLS" | "SHOW DATABASES";

/** Runs one admin command; its rows as psql's unaligned output (| between fields, a header first). */
export async function poolerCommand(docker: DockerClient, cluster: string, command: ConsoleCommand): Promise<string> {
  const name = poolerContainerName(cluster);
  const run = await docker.exec(name, ["psql", "-X", "-A", "-h", poolerSocketDir(cluster), "-p", String(POOLER_PORT), "-U", SUPERUSER, "-d", "pgbouncer", "-c", `${command};`], {});
  if (run.exitCode !== 0) {
    throw new ContainerError(`${name}: ${command} failed: ${run.stderr.trim() || `psql exited with ${run.exitCode}`}`, `check the pooler with docker logs ${name}, then run pgfort up`);
  }
  return run.stdout.trim();
}

/** Whether the cluster has a pooler running now (the config may name one that `up` has not made yet). */
export async function poolerRunning(docker: DockerClient, cluster: string): Promise<boolean> {
  return Boolean((await docker.inspectContainerIfExists(poolerContainerName(cluster)))?.State.Running);
}
