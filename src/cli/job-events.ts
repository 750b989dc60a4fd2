// What a job inside the agent image prints with --json: NDJSON on stdout, one event a line, so the
// host (docker exec, a one-off container's attach stream) reads the job's progress as it happens:
// info lines, then either the result event or an error event. Without --json: the usual Output.
import { PgfortError } from "../errors";
import { Output } from "./output";

export interface JobEvents {
  info(message: string): void;
  /** The job's result: `event` names it (verdict, manifest…), `value` is its payload. */
  result(event: string, value: Record<string, unknown>, human: string[]): void;
  /** Prints the error and returns the exit code. */
  error(error: unknown): number;
}

export function jobEvents(json: boolean): JobEvents {
  if (!json) {
    const output = new Output({ json: false });
    return { info: (message) => output.info(message), result: (_event, value, human) => output.result(value, human), error: (error) => output.error(error) };
  }
  const line = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  return {
    info: (message) => line({ event: "info", message }),
    result: (event, value) => line({ event, ...value }),
    error: (error) => {
      if (error instanceof PgfortError) {
        line({ event: "error", code: error.code, message: error.message, hint: error.hint });
        return error.exitCode;
      }
      line({ event: "error", code: "INTERNAL", message: error instanceof Error ? error.message : String(error), hint: "a bug in pgfort: report it with this message" });
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      return 70;
    },
  };
}
