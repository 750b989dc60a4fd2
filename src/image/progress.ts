// Reads the classic builder's output lines: "Step 3/12 : RUN ...", and the failing step's output.

export interface BuildStep {
  step: number;
  total: number;
  instruction: string;
}

const STEP_PATTERN = /^Step (\d+)\/(\d+) : (.*)$/;

export function parseStepLine(line: string): BuildStep | undefined {
  const match = STEP_PATTERN.exec(line.trim());
  if (!match) return undefined;
  const [, step = "0", total = "0", instruction = ""] = match;
  return { step: Number(step), total: Number(total), instruction };
}

/** Keeps the output of the current step only, bounded, to show when that step fails. */
export class StepOutput {
  private lines: string[] = [];
  constructor(private readonly maxLines = 40) {}

  push(text: string): void {
    // The builder colours RUN's stderr with ANSI escapes; they are noise in an error message.
    for (const line of text.replace(/\x1b\[[0-9;]*m/g, "").split("\n")) {
      if (parseStepLine(line)) this.lines = [];
      if (line.trim() === "" || /^Removing intermediate container/.test(line)) continue;
      this.lines.push(line);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  tail(): string[] {
    return [...this.lines];
  }
}
