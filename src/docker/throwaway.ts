// The one owner of a throwaway container's life: create (labelled with its owner process) →
// attach → start → stream → wait → kill → remove. Every job (backup, restore step, extraction,
// verify step) runs through here, and nothing else kills or removes a job container. An
// AbortSignal (Ctrl-C, SIGTERM) kills the container, tears down every stream (pipeline's
// { signal }) and still removes the container before the promise settles.
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ContainerCreateOptions, DockerClient } from "./client";
import { Demultiplexer, TextTail } from "./demultiplex";
import { ownerLabels } from "../lifecycle/owner";
import { withReleasers } from "../lifecycle/releasers";
import { LineSplitter, parseResultLine, RESULT_PREFIX } from "../jobs/result-line";

export { RESULT_PREFIX } from "../jobs/result-line";

/** What the helper needs of the engine: small, so a plain fake can stand in for it in unit tests. */
export type ThrowawayEngine = Pick<DockerClient, "createContainer" | "attach" | "startContainer" | "waitContainer" | "killContainer" | "removeContainer">;

export interface ThrowawayRequest {
  create: ContainerCreateOptions;
  /** Receives the container's stdout; the pipeline ends it. */
  stdout?: Writable[];
  /** Sent to the container's stdin, which is closed at its end. */
  stdin?: Readable;
  signal?: AbortSignal | undefined;
  /**
   * Receives the container's removal instead of waiting for it: the caller overlaps it with its
   * next step and must await it before it returns.
   */
  deferRemoval?: (removal: Promise<void>) => void;
}

export interface ThrowawayResult {
  exitCode: number;
  /** The tools' own stderr (the result line left out), its tail kept for error messages. */
  stderr: TextTail;
  /** The JSON of the last PGFORT-RESULT line, unparsed by schema: the caller owns the schema. */
  result: unknown;
}

/**
 * Runs the container to its end and always removes it. Rejects on stream failures and on abort
 * (with the signal's reason); a non-zero exit is in the result for the caller to explain.
 */
export async function runThrowaway(docker: ThrowawayEngine, request: ThrowawayRequest): Promise<ThrowawayResult> {
  const { signal } = request;
  signal?.throwIfAborted();
  const name = request.create.name ?? "";
  const stderr = new TextTail(64 * 1024);
  const lines = new LineSplitter();
  let result: unknown;
  const onStderr = (chunk: Buffer): void => {
    for (const line of lines.push(chunk)) {
      if (line.startsWith(RESULT_PREFIX)) result = parseResultLine(line);
      else stderr.append(Buffer.from(`${line}\n`));
    }
  };
  const create = {
    ...request.create,
    Labels: { ...request.create.Labels, ...ownerLabels() },
    ...(request.stdin ? { AttachStdin: true, OpenStdin: true, StdinOnce: true } : {}),
  };
  return withReleasers(async (releasers) => {
    await docker.createContainer(create);
    releasers.add(() => {
      const removal = docker.removeContainer(name);
      if (!request.deferRemoval) return removal;
      // The caller awaits it later; until then a failed removal (the engine gone) must not be an
      // unhandled rejection that kills the process before its cleanup. The reaper gets the container.
      removal.catch(() => undefined);
      request.deferRemoval(removal);
    });
    const kill = () => void docker.killContainer(name).catch(() => undefined);
    signal?.addEventListener("abort", kill, { once: true });
    releasers.add(() => signal?.removeEventListener("abort", kill));
    signal?.throwIfAborted();
    const attached = await docker.attach(name, { stdin: Boolean(request.stdin) });
    await docker.startContainer(name);
    const options = signal ? { signal } : {};
    const flows: Array<Promise<void>> = [pipeline(attached, new Demultiplexer(onStderr), ...(request.stdout ?? [discard()]), options)];
    if (request.stdin) flows.push(pipeline(request.stdin, endingWriter(attached), options));
    try {
      await Promise.all(flows);
    } catch (error) {
      // A broken stream: the tool must not run on for nothing. Wait for every flow to settle
      // so no stream outlives the container.
      await docker.killContainer(name);
      await Promise.allSettled(flows);
      throw signal?.aborted ? signal.reason : error;
    }
    const exitCode = await docker.waitContainer(name);
    // Killed by the abort after its streams ended: not a result to report.
    signal?.throwIfAborted();
    for (const line of lines.flush()) onStderr(Buffer.from(`${line}\n`));
    return { exitCode, stderr, result };
  });
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** Writes into the hijacked attach socket with backpressure and half-closes it at the end (EOF on stdin). */
function endingWriter(socket: NodeJS.ReadWriteStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (socket.write(chunk)) done();
      else socket.once("drain", () => done());
    },
    final(done) {
      (socket as unknown as { end(callback: () => void): void }).end(() => done());
    },
  });
}
