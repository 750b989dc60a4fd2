// A job program's stderr: the tail kept for messages, and the one structured result: a `PGFORT-RESULT {json}` line on its stderr
// (images/postgres/pgfort-job.sh), picked out of the tool's own output, which stays text.

/** The prefix of the job's one structured result line on stderr. */
export const RESULT_PREFIX = "PGFORT-RESULT ";

/** The JSON of a result line, unparsed by schema (the caller owns the schema); garbage is kept visible. */
export function parseResultLine(line: string): unknown {
  try {
    return JSON.parse(line.slice(RESULT_PREFIX.length));
  } catch {
    return { unparsable: line.slice(RESULT_PREFIX.length, RESULT_PREFIX.length + 200) };
  }
}

/** Splits a byte stream into lines (a line may span chunks). */
export class LineSplitter {
  private partial = "";
  push(chunk: Buffer): string[] {
    const lines = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = lines.pop() ?? "";
    return lines;
  }
  flush(): string[] {
    const rest = this.partial;
    this.partial = "";
    return rest ? [rest] : [];
  }
}

/** Keeps the last `maxBytes` of a stream's text (stderr of a tool, shown when it fails). */
export class TextTail {
  private text = "";
  constructor(private readonly maxBytes = 16 * 1024) {}

  append = (chunk: Buffer): void => {
    this.text = (this.text + chunk.toString("utf8")).slice(-this.maxBytes);
  };

  toString(): string {
    return this.text;
  }

  lastLines(count: number): string {
    return this.text.trimEnd().split("\n").slice(-count).join("\n");
  }
}
