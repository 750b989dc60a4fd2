// The host's side of a job's NDJSON stdout: events as they come (progress shown live), the one
// result or error kept, any other line kept as text for the error message. Backpressure: a
// Writable, so a slow reader slows the job's output, never buffers it.
import { Writable } from "node:stream";
import { JobFailedError, parseJobEvent, type JobEvent } from "../jobs/events";
import { LineSplitter, TextTail } from "../jobs/result-line";
import { ContainerError } from "../errors";

export class JobEventsReader extends Writable {
  private readonly lines = new LineSplitter();
  private outcome: { value: unknown } | { error: JobFailedError } | undefined;
  /** Lines that were not events (a crash's stack, a shell message), their tail. */
  readonly other = new TextTail(16 * 1024);

  /** `hostView` rewrites the job's paths (its target mount) into the host's, in messages and hints. */
  constructor(
    private readonly onEvent: (event: JobEvent) => void,
    private readonly hostView: (text: string) => string = (text) => text,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    for (const line of this.lines.push(chunk)) this.take(line);
    done();
  }

  override _final(done: (error?: Error | null) => void): void {
    for (const line of this.lines.flush()) this.take(line);
    done();
  }

  private take(line: string): void {
    const parsed = parseJobEvent(line);
    const event = parsed && "message" in parsed ? { ...parsed, message: this.hostView(parsed.message), ...("hint" in parsed ? { hint: this.hostView(parsed.hint) } : {}) } : parsed;
    if (!event) {
      if (line.trim()) this.other.append(Buffer.from(`${line}\n`));
      return;
    }
    if (event.event === "result") {
      this.outcome = { value: event.value };
      this.onEvent(event);
    }
    else if (event.event === "error") this.outcome = { error: new JobFailedError(event) };
    else this.onEvent(event);
  }

  /** The job's value, or its error as a PgfortError of the same code; a job that said neither failed in its container. */
  settle(where: string, exitCode: number, stderr: string): unknown {
    if (this.outcome && "error" in this.outcome) throw this.outcome.error;
    if (this.outcome && exitCode === 0) return this.outcome.value;
    const text = [this.other.lastLines(8), stderr.trim().split("\n").slice(-8).join("\n")].filter(Boolean).join("\n");
    throw new ContainerError(`the job in ${where} ended (exit ${exitCode}) without a result${text ? `:\n${text}` : ""}`, "read its output above; an agent image older than this pgfort is rebuilt by pgfort build");
  }
}
