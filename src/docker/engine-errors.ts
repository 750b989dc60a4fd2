// One mapping from whatever dockerode throws to a PgfortError that says what failed and what to do.
// Pure: client.ts calls it once per engine request, at the boundary (STYLE §3).
import {
  DockerEngineError,
  DockerPermissionError,
  DockerUnavailableError,
  ImageMissingError,
  NameConflictError,
  NoSpaceError,
  PgfortError,
  SwarmError,
  PortInUseError,
} from "../errors";

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

/** Socket-level failures (no HTTP answer): docker-modem passes Node's errno codes through. */
const ENGINE_GONE = new Set(["ECONNREFUSED", "ENOENT", "EPIPE", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH"]);

function socketPath(): string {
  return process.env["DOCKER_HOST"] ?? "/var/run/docker.sock";
}

/**
 * The PgfortError for a failed engine request. `doing` completes "cannot …", e.g. "create network
 * app-net"; undefined for the first contact, where the failure itself says it all. A PgfortError
 * passes through unchanged, so wrapping twice is harmless.
 */
export function mapEngineError(error: unknown, doing: string | undefined): PgfortError {
  if (error instanceof PgfortError) return error;
  const options = { cause: error };
  const cannot = doing ? `cannot ${doing}: ` : "";
  const code = (error as { code?: unknown } | null)?.code;
  const message = dockerMessage(error);
  if (code === "EACCES" || code === "EPERM") {
    return new DockerPermissionError(
      `${cannot}permission denied on the Docker socket ${socketPath()}`,
      "add this user to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root",
      options,
    );
  }
  if ((typeof code === "string" && ENGINE_GONE.has(code)) || /socket hang up/i.test(message)) {
    return new DockerUnavailableError(
      `${cannot}no Docker engine answers at ${socketPath()}`,
      "start the engine (on Debian as root: bash scripts/setup-docker.sh) or set DOCKER_HOST",
      options,
    );
  }
  if (/no space left on device/i.test(message)) {
    return new NoSpaceError(
      `${cannot}no space left on the engine's disk`,
      "free space where Docker keeps its data (docker system df; remove unused images, or old backups on that disk)",
      options,
    );
  }
  if (/port is already allocated|address already in use/i.test(message)) {
    return new PortInUseError(
      `${cannot}a host port it publishes is taken (${message})`,
      "free that port, or choose another port in the config (primary.port, replicas[].port)",
      options,
    );
  }
  if (/does not have a leader|too few managers are online/i.test(message)) {
    return new SwarmError(
      `${cannot}the swarm has no leader (${message})`,
      "a majority of the managers must be up: after one is lost the others elect a leader within seconds, so run the command again; with too few managers left, bring one back or recover the swarm on a survivor (docker swarm init --force-new-cluster)",
      options,
    );
  }
  const status = dockerStatus(error);
  if (status === 404 && /no such image/i.test(message)) {
    return new ImageMissingError(`${cannot}${message}`, "build the image first: pgfort build (pgfort up builds it when missing)", options);
  }
  if (status === 409 && /already (in use|exists)/i.test(message)) {
    return new NameConflictError(
      `${cannot}${message}`,
      "another Docker object has that name: remove or rename it (docker ps -a, docker network ls, docker volume ls), or choose another cluster name",
      options,
    );
  }
  return new DockerEngineError(
    `${cannot}${message}`,
    "read the engine's message; docker info and the engine's log (journalctl -u docker) say more",
    options,
  );
}
