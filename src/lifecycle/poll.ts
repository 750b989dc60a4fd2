// One poll loop for every "wait until" (healthy, streaming, writable, slot free): the deadline,
// the interval and the AbortSignal handled once, here.
import { setTimeout as sleep } from "node:timers/promises";

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal | undefined;
}

/** What a probe says: done (with a value), or not yet. */
export type PollAnswer<T> = { done: true; value: T } | { done: false };

export const NOT_YET: PollAnswer<never> = { done: false };
export function done<T>(value: T): PollAnswer<T> {
  return { done: true, value };
}

/**
 * Calls `probe` every intervalMs until it answers done, and returns its value. A probe may throw
 * to stop at once (a failure that waiting cannot fix). After timeoutMs, calls `onTimeout` (which
 * should return the error to throw: it knows what was awaited). Rejects with the signal's reason
 * when aborted, without waiting out the interval.
 */
export async function pollUntil<T>(
  options: PollOptions,
  probe: (attempt: number) => Promise<PollAnswer<T>>,
  onTimeout: () => Promise<Error> | Error,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    const answer = await probe(attempt);
    if (answer.done) return answer.value;
    if (Date.now() >= deadline) throw await onTimeout();
    try {
      await sleep(options.intervalMs, undefined, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      // timers/promises rejects with a generic AbortError: the signal's reason says why.
      throw options.signal?.aborted ? options.signal.reason : error;
    }
  }
}
