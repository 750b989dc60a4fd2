// What `pgfort job …` prints on stdout, one JSON object a line (NDJSON), and what the host reads
// back: progress while it runs, then one result or one error. The host turns an error event back
// into a PgfortError with the same code, hint and exit code. Pure.
import { z } from "zod";
import { PgfortError } from "../errors";

export const JobEventSchema = z.discriminatedUnion("event", [
  z.object({ event: z.literal("progress"), file: z.string(), bytes: z.number(), elapsedMs: z.number() }),
  z.object({ event: z.literal("info"), message: z.string() }),
  z.object({ event: z.literal("warning"), message: z.string() }),
  /** peakRssBytes: the job process's peak resident memory (the benchmark reports it; older jobs omit it). */
  z.object({ event: z.literal("result"), value: z.unknown(), peakRssBytes: z.number().optional() }),
  z.object({ event: z.literal("error"), code: z.string(), message: z.string(), hint: z.string(), exitCode: z.number().int() }),
]);
export type JobEvent = z.infer<typeof JobEventSchema>;

export function formatJobEvent(event: JobEvent): string {
  return `${JSON.stringify(event)}\n`;
}

/** A line of the job's stdout: an event, or undefined for a line that is not one (kept as text by the caller). */
export function parseJobEvent(line: string): JobEvent | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const parsed = JobEventSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The error event of a failure: a PgfortError keeps its code; anything else is a bug, reported as INTERNAL. */
export function errorEvent(error: unknown): Extract<JobEvent, { event: "error" }> {
  if (error instanceof PgfortError) return { event: "error", code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode };
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { event: "error", code: "INTERNAL", message: `internal error in the job (a bug in pgfort, please report it): ${text}`, hint: "report it with the message above", exitCode: 70 };
}

/** A job's failure as seen on the host: the job's own code, message, hint and exit code. */
export class JobFailedError extends PgfortError {
  readonly code: string;
  override readonly exitCode: number;
  constructor(event: Extract<JobEvent, { event: "error" }>) {
    super(event.message, event.hint);
    this.code = event.code;
    this.exitCode = event.exitCode;
  }
}
