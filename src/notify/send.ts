// Sends one notification request with retries within one deadline. Never throws: the result says why
// it did not arrive, in words that carry no secret (the URL is redacted, server bodies are not read).
import { setTimeout as sleep } from "node:timers/promises";
import { isRetryableStatus, redactUrl, retryDelayMs, type NotifyRequest } from "./plan";

export type SendResult = { delivered: true; attempts: number } | { delivered: false; attempts: number; reason: string };

/** `deadlineMs` is absolute (epoch milliseconds): every attempt and every backoff ends by then. */
export async function sendNotification(request: NotifyRequest, deadlineMs: number): Promise<SendResult> {
  const remaining = (): number => deadlineMs - Date.now();
  if (remaining() <= 0) return { delivered: false, attempts: 0, reason: "no time left before the notify timeout" };
  // One signal for all attempts: a server that never answers is cut off at the deadline, not per try.
  const signal = AbortSignal.timeout(remaining());
  let reason = "";
  for (let attempt = 1; ; attempt += 1) {
    try {
      const response = await fetch(request.url, { method: "POST", headers: { "content-type": request.contentType }, body: request.body, signal, redirect: "follow" });
      // The body is not needed; cancelling it frees the connection.
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) return { delivered: true, attempts: attempt };
      reason = `HTTP ${response.status}`;
      if (!isRetryableStatus(response.status)) return { delivered: false, attempts: attempt, reason };
    } catch (error) {
      if (signal.aborted) return { delivered: false, attempts: attempt, reason: reason ? `${reason}, then no answer before the timeout` : "no answer before the timeout" };
      reason = describeFetchError(error, request.url);
    }
    const delay = retryDelayMs(attempt - 1, remaining());
    if (delay === null) return { delivered: false, attempts: attempt, reason };
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      return { delivered: false, attempts: attempt, reason };
    }
  }
}

/** undici says "fetch failed" and puts the useful part (ECONNREFUSED …) in `cause`. */
function describeFetchError(error: unknown, url: string): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : null;
  const message = cause instanceof Error ? cause.message : String(cause);
  return (code ?? message).split(url).join(redactUrl(url));
}
