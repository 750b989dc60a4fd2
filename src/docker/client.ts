// The only module that imports dockerode: it maps the engine's failures to PgfortErrors once, here.
import Dockerode from "dockerode";
import type { Readable } from "node:stream";
import { DockerUnavailableError } from "../errors";

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
    try {
      await this.api.getImage(tag).inspect();
      return true;
    } catch (error) {
      if (dockerStatus(error) === 404) return false;
      throw error;
    }
  }

  async inspectImage(tag: string): Promise<Dockerode.ImageInspectInfo> {
    return this.api.getImage(tag).inspect();
  }

  /** Starts a classic-builder build from a tar context; the returned stream carries BuildEvents. */
  async buildImage(context: Readable, options: Record<string, unknown>): Promise<Readable> {
    return (await this.api.buildImage(context, options)) as unknown as Readable;
  }

  /** Reads a build's JSON event stream to its end; resolves with every event, or rejects on the first error. */
  followBuild(stream: Readable, onEvent: (event: BuildEvent) => void): Promise<BuildEvent[]> {
    return new Promise((resolve, reject) => {
      this.api.modem.followProgress(
        stream,
        (error: Error | null, events: BuildEvent[]) => (error ? reject(error) : resolve(events)),
        onEvent,
      );
    });
  }
}
