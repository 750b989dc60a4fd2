// Runs a throwaway job container: its stdout streamed (with backpressure) into a writable, or a
// readable streamed into its stdin; stderr kept for the error message and scanned for markers.
import { createHash } from "node:crypto";
import { Transform, Writable, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ContainerCreateOptions, DockerClient } from "../docker/client";
import { Demultiplexer, TextTail } from "../docker/demultiplex";

export interface JobResult {
  exitCode: number;
  stderr: TextTail;
  /** stderr lines that start with one of the requested markers. */
  markers: string[];
}

export interface JobStreams {
  /** Receives the container's stdout; the pipeline ends it. */
  stdout?: Writable[];
  /** Sent to the container's stdin, which is closed at its end. */
  stdin?: Readable;
  markerPrefixes?: readonly string[];
  /**
   * Receives the container's removal instead of waiting for it: the caller overlaps it with its
   * next step and awaits it before it returns.
   */
  deferRemoval?: (removal: Promise<void>) => void;
}

/** Counts and hashes what passes through: sha256 and byte count computed on the way. */
export class Measure extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;

  constructor(private readonly onBytes: (bytes: number) => void = () => undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }

  sha256(): string {
    return this.hash.digest("hex");
  }
}

/**
 * Creates, attaches, starts and waits for the container, and always removes it. A broken stream
 * kills the container so the tool does not run on for nothing. Rejects only on stream failures;
 * a non-zero exit is in the result for the caller to explain.
 */
export async function runJob(docker: DockerClient, create: ContainerCreateOptions, streams: JobStreams): Promise<JobResult> {
  const name = create.name ?? "";
  const stderr = new TextTail(64 * 1024);
  const markers: string[] = [];
  const prefixes = streams.markerPrefixes ?? [];
  let partialLine = "";
  const onStderr = (chunk: Buffer): void => {
    const text = partialLine + chunk.toString("utf8");
    const lines = text.split("\n");
    partialLine = lines.pop() ?? "";
    const ordinary: string[] = [];
    for (const line of lines) {
      if (prefixes.some((prefix) => line.startsWith(prefix))) markers.push(line);
      else ordinary.push(line);
    }
    if (ordinary.length) stderr.append(Buffer.from(`${ordinary.join("\n")}\n`));
  };
  const options = streams.stdin ? { ...create, AttachStdin: true, OpenStdin: true, StdinOnce: true } : create;
  await docker.createContainer(options);
  try {
    const attached = await docker.attach(name, { stdin: Boolean(streams.stdin) });
    await docker.startContainer(name);
    const flows: Array<Promise<void>> = [
      pipeline(attached, new Demultiplexer(onStderr), ...(streams.stdout ?? [discard()])),
    ];
    if (streams.stdin) flows.push(pipeline(streams.stdin, endingWriter(attached)));
    try {
      await Promise.all(flows);
    } catch (error) {
      await docker.killContainer(name);
      throw error;
    }
    const exitCode = await docker.waitContainer(name);
    if (partialLine) onStderr(Buffer.from("\n"));
    return { exitCode, stderr, markers };
  } finally {
    const removal = docker.removeContainer(name);
    if (streams.deferRemoval) streams.deferRemoval(removal);
    else await removal;
  }
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
