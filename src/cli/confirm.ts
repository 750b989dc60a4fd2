import { createInterface } from "node:readline/promises";
import { NotConfirmedError } from "../errors";

/** Asks on a TTY; without one, only --yes confirms (DESIGN.md: destructive commands). */
export async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new NotConfirmedError(`${question} — not confirmed`, "add --yes to confirm when there is no terminal to ask");
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new NotConfirmedError(`${question} — declined`, "nothing was changed");
  } finally {
    prompt.close();
  }
}
