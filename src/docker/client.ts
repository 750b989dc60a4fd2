// The only module that imports dockerode: it maps the engine's failures to PgfortErrors once, here.
import Dockerode from "dockerode";
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import { execIn, startExecStream, type ExecOptions, type ExecResult, type ExecStream } from "./exec";
import { logTail, waitUntilHealthy } from "./health";
export type { ExecOptions, ExecResult, ExecStream } from "./exec";
import { dockerStatus, mapEngineError } from "./engine-errors";

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

export { dockerMessage, dockerStatus } from "./engine-errors";
import { SwarmClient } from "./swarm";

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

/** Runs one engine request; a failure becomes the PgfortError that says what `doing` needed. */
async function request<T>(doing: string | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapEngineError(error, doing);
  }
}

export class DockerClient {
  private constructor(private readonly api: Dockerode) {}

  /**
   * Connects to the engine (DOCKER_HOST or the default socket) and checks that it answers; throws
   * DockerUnavailableError, or DockerPermissionError for a user outside the docker group.
   */
  static async connect(): Promise<DockerClient> {
    const api = new Dockerode();
    await request(undefined, () => api.ping()); // "no Docker engine answers at …" needs no "cannot …" before it
    return new DockerClient(api);
  }

  /** The same engine's Swarm API (src/docker/swarm.ts): it answers only on a swarm manager. */
  swarm(): SwarmClient {
    return new SwarmClient(this.api, request);
  }

  async engineInfo(): Promise<EngineInfo> {
    const info = (await request("read the engine's info", () => this.api.info())) as Record<string, unknown>;
    return {
      serverVersion: String(info["ServerVersion"] ?? "unknown"),
      cpus: Number(info["NCPU"] ?? 1),
      memoryBytes: Number(info["MemTotal"] ?? 0),
      cgroupVersion: String(info["CgroupVersion"] ?? "1"),
      warnings: Array.isArray(info["Warnings"]) ? info["Warnings"].map(String) : [],
    };
  }

  async imageExists(tag: string): Promise<boolean> {
    return request(`inspect image ${tag}`, () => tolerate(this.api.getImage(tag).inspect().then(() => true), [404], false));
  }

  async inspectImage(tag: string): Promise<Dockerode.ImageInspectInfo> {
    return request(`inspect image ${tag}`, () => this.api.getImage(tag).inspect());
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
    return request(`inspect container ${name}`, () => tolerate<ContainerInspect | undefined>(this.api.getContainer(name).inspect(), [404], undefined));
  }

  /** Creates and starts a container; returns the engine's warnings (limits this kernel cannot honour). */
  async createAndStart(options: ContainerCreateOptions): Promise<string[]> {
    const name = options.name ?? "";
    // dockerode drops the create response's Warnings; ask the API directly to keep them.
    const created = await request(`create container ${name}`, () =>
      new Promise<{ Id: string; Warnings?: string[] | null }>((resolve, reject) =>
        this.api.modem.dial(
          {
            path: "/containers/create?",
            method: "POST",
            options: { _query: { name }, _body: { ...options, name: undefined } },
            statusCodes: { 200: true, 201: true, 400: "bad parameter", 404: "no such image", 409: "conflict", 500: "server error" },
          },
          (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as { Id: string; Warnings?: string[] })),
        ),
      ),
    );
    try {
      await request(`start container ${name}`, () => this.api.getContainer(name).start());
    } catch (error) {
      await this.removeContainer(name); // a created container that never ran is ours to take back
      throw error;
    }
    return created.Warnings ?? [];
  }

  /** Creates a container without starting it (to attach to its streams first). */
  async createContainer(options: ContainerCreateOptions): Promise<void> {
    await request(`create container ${options.name ?? ""}`, () => this.api.createContainer(options));
  }

  /** The container's multiplexed stdout/stderr (and its stdin, when asked), attached before start. */
  async attach(name: string, options: { stdin?: boolean } = {}): Promise<NodeJS.ReadWriteStream> {
    return request(`attach to container ${name}`, () =>
      this.api.getContainer(name).attach({ stream: true, stdout: true, stderr: true, stdin: options.stdin ?? false, hijack: options.stdin ?? false }),
    );
  }

  /** Waits for the container to exit; its exit code. */
  async waitContainer(name: string): Promise<number> {
    const result = (await request(`wait for container ${name}`, () => this.api.getContainer(name).wait())) as { StatusCode?: number };
    return result.StatusCode ?? -1;
  }

  async killContainer(name: string): Promise<void> {
    await request(`kill container ${name}`, () => tolerate(this.api.getContainer(name).kill(), [404, 409], undefined)); // gone, or not running
  }

  /** Removes a container and its anonymous volumes; a missing container is not an error. */
  async removeContainer(name: string): Promise<void> {
    await request(`remove container ${name}`, () => tolerate(this.api.getContainer(name).remove({ force: true, v: true }), [404], undefined));
  }

  /**
   * Extracts a tar archive into `directory` of a container, which need not be running (a created
   * container's volumes are mounted for it). Entries keep the owner and mode written in the tar.
   */
  async putArchive(name: string, directory: string, archive: Buffer): Promise<void> {
    await request(`copy files into container ${name}`, () => this.api.getContainer(name).putArchive(archive, { path: directory }));
  }

  /** The last lines of a container's log (json-file or local driver), stdout and stderr together. */
  logTail(name: string, lines = 30): Promise<string> {
    return logTail(() => this.api.getContainer(name).logs({ stdout: true, stderr: true, tail: lines, follow: false }));
  }

  /**
   * Waits until the container's healthcheck reports healthy. Throws a ContainerError with the
   * log's last lines when it exits, keeps restarting, turns unhealthy, or the timeout passes.
   */
  waitUntilHealthy(name: string, timeoutMs = 120_000): Promise<void> {
    return waitUntilHealthy(this, name, timeoutMs);
  }

  /**
   * One reading of the container's usage (stats with stream=false: the engine samples twice about a
   * second apart, so CPU has a delta); undefined when there is no such container. A stopped
   * container answers with empty memory and CPU figures.
   */
  async containerStats(name: string): Promise<Dockerode.ContainerStats | undefined> {
    return request(`read the usage of container ${name}`, () =>
      tolerate<Dockerode.ContainerStats | undefined>(this.api.getContainer(name).stats({ stream: false }), [404], undefined),
    );
  }

  /** Creates the network unless it exists; true when created now. */
  async ensureNetwork(name: string, labels: Record<string, string>): Promise<boolean> {
    const networks = await request(`list networks`, () => this.api.listNetworks({ filters: { name: [name] } }));
    if (networks.some((network) => network.Name === name)) return false;
    await request(`create network ${name}`, () => this.api.createNetwork({ Name: name, Driver: "bridge", Labels: labels, CheckDuplicate: true }));
    return true;
  }

  /** Creates the named volume unless it exists; true when created now. */
  async ensureVolume(name: string, labels: Record<string, string>): Promise<boolean> {
    if (await this.volumeExists(name)) return false;
    await request(`create volume ${name}`, () => this.api.createVolume({ Name: name, Labels: labels }));
    return true;
  }

  async volumeExists(name: string): Promise<boolean> {
    return (await this.volumeLabels(name)) !== undefined;
  }

  /** A volume's labels, or undefined when there is no such volume. */
  async volumeLabels(name: string): Promise<Record<string, string> | undefined> {
    const info = await request(`inspect volume ${name}`, () =>
      tolerate<Dockerode.VolumeInspectInfo | undefined>(this.api.getVolume(name).inspect(), [404], undefined),
    );
    return info ? (info.Labels ?? {}) : undefined;
  }

  async removeVolume(name: string): Promise<void> {
    await request(`remove volume ${name}`, () => tolerate(this.api.getVolume(name).remove(), [404], undefined));
  }

  async removeNetwork(name: string): Promise<void> {
    await request(`remove network ${name}`, () => tolerate(this.api.getNetwork(name).remove(), [404], undefined));
  }

  /** Every container, volume and network carrying the label filter. */
  async listLabelled(filters: { label: string[] }): Promise<{ containers: Dockerode.ContainerInfo[]; volumes: string[]; networks: string[] }> {
    const [containers, volumes, networks] = await request(`list the objects labelled ${filters.label.join(", ")}`, () =>
      Promise.all([this.api.listContainers({ all: true, filters }), this.api.listVolumes({ filters }), this.api.listNetworks({ filters })]),
    );
    return {
      containers,
      volumes: (volumes.Volumes ?? []).map((volume) => volume.Name),
      networks: networks.map((network) => network.Name),
    };
  }

  /** Containers (in any state) and volumes carrying the label filter, with their labels. */
  async listLabelledObjects(filters: { label: string[] }): Promise<{ containers: Dockerode.ContainerInfo[]; volumes: Array<{ name: string; labels: Record<string, string> }> }> {
    const [containers, volumes] = await request(`list the objects labelled ${filters.label.join(", ")}`, () =>
      Promise.all([this.api.listContainers({ all: true, filters }), this.api.listVolumes({ filters })]),
    );
    return { containers, volumes: (volumes.Volumes ?? []).map((volume) => ({ name: volume.Name, labels: volume.Labels ?? {} })) };
  }

  /** Stops a container with a clean Postgres shutdown (STOPSIGNAL SIGINT), waiting up to timeoutSeconds. */
  async stopContainer(name: string, timeoutSeconds = 60): Promise<void> {
    await request(`stop container ${name}`, () => tolerate(this.api.getContainer(name).stop({ t: timeoutSeconds }), [304, 404], undefined)); // 304: already stopped
  }

  async startContainer(name: string): Promise<void> {
    await request(`start container ${name}`, () => tolerate(this.api.getContainer(name).start(), [304], undefined)); // 304: already running
  }

  async renameContainer(name: string, newName: string): Promise<void> {
    await request(`rename container ${name} to ${newName}`, () => this.api.getContainer(name).rename({ name: newName }));
  }

  async restartContainer(name: string, timeoutSeconds = 60): Promise<void> {
    await request(`restart container ${name}`, () => this.api.getContainer(name).restart({ t: timeoutSeconds }));
  }

  /**
   * Runs a command in a running container and collects its output (for short, text output:
   * queries, pg_ctl; never a backup). Does not throw on a non-zero exit: the caller decides.
   */
  exec(container: string, command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return request(`run ${command[0] ?? "a command"} in container ${container}`, () => execIn(this.api.getContainer(container), command, options));
  }

  /**
   * Starts a long command (a job in the agent) with stdin attached: its multiplexed output streams
   * with backpressure; half-closing the stream's write side ends the command's stdin.
   */
  execStream(container: string, command: string[], options: { user?: string; env?: string[] } = {}): Promise<ExecStream> {
    return request(`run ${command.join(" ")} in container ${container}`, () => startExecStream(this.api.getContainer(container), command, options));
  }

  /** Sends a signal (SIGTERM: a graceful stop) to a running container; gone or stopped is not an error. */
  async signalContainer(name: string, signal: string): Promise<void> {
    await request(`signal container ${name}`, () => tolerate(this.api.getContainer(name).kill({ signal }), [404, 409], undefined));
  }

  /** The gateway of a network's first subnet: the host's address on that bridge. */
  async networkGateway(name: string): Promise<string | undefined> {
    const info = (await request(`inspect network ${name}`, () => this.api.getNetwork(name).inspect())) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
    return info.IPAM?.Config?.find((config) => config.Gateway)?.Gateway;
  }
}
