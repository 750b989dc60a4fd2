// The only place that prints. On a TTY: a live progress line and human text. With --json: one JSON
// document on stdout at the end, and progress events as JSON lines on stderr. Otherwise: plain lines.
import { PgfortError } from "../errors";

export interface OutputOptions {
  json: boolean;
  isTty?: boolean;
}

export class Output {
  readonly json: boolean;
  private readonly isTty: boolean;
  private progressShown = false;
  private lastThrottledAt = 0;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.isTty = !options.json && (options.isTty ?? Boolean(process.stderr.isTTY));
  }

  /** A transient status line: rewritten in place on a TTY, a JSON event with --json, a log line otherwise. */
  progress(text: string, event: Record<string, unknown> = {}): void {
    if (this.json) {
      this.writeErr(JSON.stringify({ time: new Date().toISOString(), event: "progress", message: text, ...event }));
    } else if (this.isTty) {
      const width = (process.stderr.columns ?? 100) - 1;
      process.stderr.write(`\r\x1b[2K${text.slice(0, width)}`);
      this.progressShown = true;
    } else {
      this.writeErr(text);
    }
  }

  /** progress() for frequent updates (bytes streamed): at most every 100 ms on a TTY, every 2 s otherwise. */
  throttledProgress(text: string, event: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - this.lastThrottledAt < (this.isTty ? 100 : 2000)) return;
    this.lastThrottledAt = now;
    this.progress(text, event);
  }

  /** A line worth keeping (a warning, a step done). */
  info(text: string, event: Record<string, unknown> = {}): void {
    this.clearProgress();
    if (this.json) this.writeErr(JSON.stringify({ time: new Date().toISOString(), event: "info", message: text, ...event }));
    else this.writeErr(text);
  }

  warn(text: string, event: Record<string, unknown> = {}): void {
    this.clearProgress();
    if (this.json) this.writeErr(JSON.stringify({ time: new Date().toISOString(), event: "warning", message: text, ...event }));
    else this.writeErr(`warning: ${text}`);
  }

  /** The command's result: `value` as JSON with --json, else `human` (text or lines). */
  result(value: unknown, human: string | string[]): void {
    this.clearProgress();
    if (this.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else process.stdout.write(`${Array.isArray(human) ? human.join("\n") : human}\n`);
  }

  /** Prints an error and returns the exit code. A non-PgfortError is a bug: its stack is shown. */
  error(error: unknown): number {
    this.clearProgress();
    if (error instanceof PgfortError) {
      if (this.json) {
        process.stdout.write(
          `${JSON.stringify({ error: { code: error.code, message: error.message, hint: error.hint } }, null, 2)}\n`,
        );
      } else {
        this.writeErr(`error: ${error.message}\nhint: ${error.hint}`);
      }
      return error.exitCode;
    }
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    if (this.json) process.stdout.write(`${JSON.stringify({ error: { code: "INTERNAL", message: String(error) } })}\n`);
    this.writeErr(`internal error (a bug in pgfort, please report it):\n${text}`);
    return 70;
  }

  private clearProgress(): void {
    if (this.progressShown) process.stderr.write("\r\x1b[2K");
    this.progressShown = false;
  }

  private writeErr(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
