// Fake tools for job unit tests: bash scripts in a bin directory put first on PATH.
import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";

export class FakeTools {
  private savedPath: string | undefined;

  constructor(readonly bin: string) {}

  /** A bash script named `name` in the bin directory. */
  script(name: string, body: string): void {
    writeFileSync(path.join(this.bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path.join(this.bin, name), 0o755);
  }

  /** Puts the bin directory first on PATH until restore(). */
  onPath(): void {
    this.savedPath = process.env.PATH;
    process.env.PATH = `${this.bin}:${this.savedPath ?? ""}`;
  }

  restore(): void {
    process.env.PATH = this.savedPath;
  }
}
