// SIGINT/SIGTERM for the CLI process: one AbortController, installed before any other module
// loads (index.ts imports this first), so a Ctrl-C during start-up is not the default kill that
// would skip cleanup. The first signal aborts (the running command cleans up and exits 130/143),
// a second one exits at once.
import { InterruptedError } from "../errors";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const controller = new AbortController();
let installed = false;
/** Commands that handle the signals themselves (schedule's graceful stop) turn the handling off. */
let suspended = false;
let seenWhileSuspended = false;

/** Aborted by the first SIGINT or SIGTERM once the handlers are installed. */
export const interruption: AbortSignal = controller.signal;

export function installInterruptHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      const interrupted = new InterruptedError(signal);
      if (suspended) {
        // The command's own handler took the first one; a second still ends the process at once.
        if (seenWhileSuspended) process.exit(interrupted.exitCode);
        seenWhileSuspended = true;
        return;
      }
      if (controller.signal.aborted) process.exit(interrupted.exitCode);
      process.stderr.write("interrupted: cleaning up\n");
      controller.abort(interrupted);
    });
  }
}

/**
 * For a command with its own handling: our handlers ignore the signals meanwhile. Returns a
 * function that turns them back on.
 */
export function suspendInterruptHandlers(): () => void {
  suspended = true;
  return () => {
    suspended = false;
  };
}
