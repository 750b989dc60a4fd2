// The only module that imports dockerode: it maps the engine's failures to PgfortErrors once, here.
import Dockerode from "dockerode";
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import { execIn, type ExecOptions, type ExecResult } from "./exec";
import { logTail, waitUntilHealthy } from "./health";
export type { ExecOptions, ExecResult } from "./exec";
import { ContainerError, DockerUnavailableError } from "../errors";

export type { Dockerode };
export type ContainerCreateOptions = Dockerode.ContainerCreateOptions;
export type ContainerInspect = Dockerode.ContainerInspectInfo;
export type BuildEvent = { stream?: string; status?: string; error?: string; aux?: { ID?: string } };

export interface EngineInfo {
  serverVersion: string;
  cpus: number;
  memoryBytes: number;
  cgroupVersion: string;
  /** Engine warnings about what this kernel cannot do (e.g. "No blkio weight support"). */
  warnings: string[];
}

/** HTTP status of a Docker API error, if it is one. */
export function dockerStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** `work`'s result, or `fallback` when the engine answers with one of `statuses` (404: no such object, 304: already so). */
export async function tolerate<T>(work: Promise<T>, statuses: readonly number[], fallback: T): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const status = dockerStatus(error);
    if (status !== undefined && statuses.includes(status)) return fallback;
    throw error;
  }
}

/** The engine's own message of a Docker API error (JSON body), else the error's message. */
export function dockerMessage(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === "string") return json.message;
  return error instanceof Error ? error.message : String(error);
}

export class DockerClient {
  private constructor(readonly api: Dockerode) {}

  /** Connects to the engine (DOCKER_HOST or the default socket) and checks that it answers. */
  static async connect(): Promise<DockerClient> {
    const api = new Dockerode();
    try {
      await api.ping();
    } catch (cause) {
      const where = process.env["DOCKER_HOST"] ?? "/var/run/docker.sock";
      throw new DockerUnavailableError(
        `no Docker engine answers at ${where}`,
        "start the engine (on Debian as root: bash scripts/setup-docker.sh) or set DOCKER_HOST",
        { cause },
      );
    }
    return new DockerClient(api);
  }

  async engineInfo(): Promise<EngineInfo> {
    const info = (await this.api.info()) as Record<string, unknown>;
    return {
      serverVersion: String(info["ServerVersion"] ?? "unknown"),
      cpus: Number(info["NCPU"] ?? 1),
      memoryBytes: Number(info["MemTotal"] ?? 0),
      cgroupVersion: String(info["CgroupVersion"] ?? "1"),
      warnings: Array.isArray(info["Warnings"]) ? info["Warnings"].map(String) : [],
    };
  }

  async imageExists(tag: string): Promise<boolean> {
    return tolerate(this.api.getImage(tag).inspect().then(() => true), [404], false);
  }

  async inspectImage(tag: string): Promise<Dockerode.ImageInspectInfo> {
    return this.api.getImage(tag).inspect();
  }

  /** Starts a classic-builder build from a tar context; the returned stream carries BuildEvents. */
  async buildImage(context: Readable, options: Record<string, unknown>): Promise<Readable> {
    return (await this.api.buildImage(context, options)) as unknown as Readable;
  }

  /**
   * Reads a build's JSON event stream to its end and resolves with the events; rejects with the
   * engine's message on the first `{"error": ...}` event (docker-modem's followProgress does not).
   */
  async followBuild(stream: Readable, onEvent: (event: BuildEvent) => void): Promise<BuildEvent[]> {
    const events: BuildEvent[] = [];
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      const event = JSON.parse(line) as BuildEvent;
      if (event.error) {
        stream.destroy();
        throw new Error(event.error);
      }
      events.push(event);
      onEvent(event);
    }
    return events;
  }

  async containerExists(name: string): Promise<boolean> {
    return (await this.inspectContainerIfExists(name)) !== undefined;
  }

  async inspectContainerIfExists(name: string): Promise<ContainerInspect | undefined> {
    return tolerate<ContainerInspect | undefined>(this.api.getContainer(name).inspect(), [404], undefined);
  }

  /** Creates and starts a container; returns the engine's warnings (limits this kernel cannot honour). */
  async createAndStart(options: ContainerCreateOptions): Promise<string[]> {
    let warnings: string[] = [];
    try {
      // dockerode drops the create response's Warnings; ask the API directly to keep them.
      const created = await new Promise<{ Id: string; Warnings?: string[] | null }>((resolve, reject) =>
        this.api.modem.dial(
          {
            path: "/containers/create?",
            method: "POST",
            options: { _query: { name: options.name }, _body: { ...options, name: undefined } },
            statusCodes: { 200: true, 201: true, 400: "bad parameter", 404: "no such image", 409: "conflict", 500: "server error" },
          },
          (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as { Id: string; Warnings?: string[] })),
        ),
      );
      warnings = created.Warnings ?? [];
    } catch (cause) {
      throw new ContainerError(
        `cannot create container ${options.name ?? ""}: ${dockerMessage(cause)}`,
        "check the image exists (pgfort build) and that no other container has that name",
        { cause },
      );
    }
    try {
      await this.api.getContainer(options.name ?? "").start();
    } catch (cause) {
      await this.removeContainer(options.name ?? "");
      throw new ContainerError(
        `cannot start container ${options.name ?? ""}: ${dockerMessage(cause)}`,
        /port is already allocated|address already in use/i.test(dockerMessage(cause))
          ? "that host port is taken: free it or choose another port in the config"
          : "read the cause above; the container was removed",
        { cause },
      );
    }
    return warnings;
  }

  /** Creates a container without starting it (to attach to its streams first). */
  async createContainer(options: ContainerCreateOptions): Promise<void> {
    try {
      await this.api.createContainer(options);
    } catch (cause) {
      throw new ContainerError(`cannot create container ${options.name ?? ""}: ${dockerMessage(cause)}`, "check the image exists (pgfort build)", { cause });
    }
  }

  /** The container's multiplexed stdout/stderr (and its stdin, when asked), attached before start. */
  async attach(name: string, options: { stdin?: boolean } = {}): Promise<NodeJS.ReadWriteStream> {
    return this.api.getContainer(name).attach({ stream: true, stdout: true, stderr: true, stdin: options.stdin ?? false, hijack: options.stdin ?? false });
  }

  /** Waits for the container to exit; its exit code. */
  async waitContainer(name: string): Promise<number> {
    const result = (await this.api.getContainer(name).wait()) as { StatusCode?: number };
    return result.StatusCode ?? -1;
  }

  async killContainer(name: string): Promise<void> {
    await tolerate(this.api.getContainer(name).kill(), [404, 409], undefined); // gone, or not running
  }

  /** Removes a container and its anonymous volumes; a missing container is not an error. */
  async removeContainer(name: string): Promise<void> {
    await tolerate(this.api.getContainer(name).remove({ force: true, v: true }), [404], undefined);
  }

  /** The last lines of a container's log (json-file or local driver), stdout and stderr together. */
  logTail(name: string, lines = 30): Promise<string> {
    return logTail(this, name, lines);
  }

  /**
   * Waits until the container's healthcheck reports healthy. Throws a ContainerError with the
   * log's last lines when it exits, keeps restarting, turns unhealthy, or the timeout passes.
   */
  waitUntilHealthy(name: string, timeoutMs = 120_000): Promise<void> {
    return waitUntilHealthy(this, name, timeoutMs);
  }

  /** Creates the network unless it exists; true when created now. */
  async ensureNetwork(name: string, labels: Record<string, string>): Promise<boolean> {
    if ((await this.api.listNetworks({ filters: { name: [name] } })).some((network) => network.Name === name)) return false;
    await this.api.createNetwork({ Name: name, Driver: "bridge", Labels: labels, CheckDuplicate: true });
    return true;
  }

  /** Creates the named volume unless it exists; true when created now. */
  async ensureVolume(name: string, labels: Record<string, string>): Promise<boolean> {
    if (await this.volumeExists(name)) return false;
    await this.api.createVolume({ Name: name, Labels: labels });
    return true;
  }

  async volumeExists(name: string): Promise<boolean> {
    return tolerate(this.api.getVolume(name).inspect().then(() => true), [404], false);
  }

  async removeVolume(name: string): Promise<void> {
    await tolerate(this.api.getVolume(name).remove(), [404], undefined);
  }

  async removeNetwork(name: string): Promise<void> {
    await tolerate(this.api.getNetwork(name).remove(), [404], undefined);
  }

  /** Every container, volume and network carrying the label filter. */
  async listLabelled(filters: { label: string[] }): Promise<{ containers: Dockerode.ContainerInfo[]; volumes: string[]; networks: string[] }> {
    const [containers, volumes, networks] = await Promise.all([
      this.api.listContainers({ all: true, filters }),
      this.api.listVolumes({ filters }),
      this.api.listNetworks({ filters }),
    ]);
    return {
      containers,
      volumes: (volumes.Volumes ?? []).map((volume) => volume.Name),
      networks: networks.map((network) => network.Name),
    };
  }

  /** Stops a container with a clean Postgres shutdown (STOPSIGNAL SIGINT), waiting up to timeoutSeconds. */
  async stopContainer(name: string, timeoutSeconds = 60): Promise<void> {
    await tolerate(this.api.getContainer(name).stop({ t: timeoutSeconds }), [304, 404], undefined); // 304: already stopped
  }

  async startContainer(name: string): Promise<void> {
    await tolerate(this.api.getContainer(name).start(), [304], undefined); // 304: already running
  }

  async renameContainer(name: string, newName: string): Promise<void> {
    await this.api.getContainer(name).rename({ name: newName });
  }

  async restartContainer(name: string, timeoutSeconds = 60): Promise<void> {
    await this.api.getContainer(name).restart({ t: timeoutSeconds });
  }

  /**
   * Runs a command in a running container and collects its output (for short, text output:
   * queries, pg_ctl; never a backup). Does not throw on a non-zero exit: the caller decides.
   */
  exec(container: string, command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return execIn(this, container, command, options);
  }
}
