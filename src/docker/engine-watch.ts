// Notices the Docker engine going away during a long operation. Needed because a request whose
// connection dies after the engine sent its headers (docker-modem's container wait, an attach) never
// settles: nothing keeps Node's event loop alive then, and the process would exit 0 in the middle
// of a drill (seen in the engine-gone test). The watch's own timer keeps the process alive, and its
// rejection ends the operation with the cause.
import type { DockerClient } from "./client";
import { DockerUnavailableError } from "../errors";

export interface EngineWatch {
  /** Rejects with a DockerUnavailableError after `misses` failed pings in a row; never resolves. */
  lost: Promise<never>;
  stop(): void;
}

export function watchEngine(docker: Pick<DockerClient, "engineInfo">, options: { intervalMs?: number; misses?: number } = {}): EngineWatch {
  const intervalMs = options.intervalMs ?? 2000;
  const misses = options.misses ?? 2;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const lost = new Promise<never>((_resolve, reject) => {
    let failures = 0;
    const ping = (): void => {
      timer = setTimeout(() => {
        docker.engineInfo().then(
          () => {
            failures = 0;
            if (!stopped) ping();
          },
          (cause: unknown) => {
            failures += 1;
            if (stopped) return;
            if (failures >= misses) reject(new DockerUnavailableError("the Docker engine stopped answering", "start dockerd or fix DOCKER_HOST", { cause }));
            else ping();
          },
        );
      }, intervalMs);
    };
    ping();
  });
  lost.catch(() => undefined); // observed by whoever races it; never an unhandled rejection
  return {
    lost,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
