// What to send for one run event, and when to retry: pure, so payloads, URLs and the backoff are
// unit-tested without a server. Sending is in send.ts.
import type { NotifyConfig } from "../config/schema";

export type NotifyTarget = "ping" | "webhook";

/** One event of a run's life, as the scheduler reports it to the notifier. */
export interface RunEvent {
  event: "start" | "success" | "failure";
  job: string;
  backupId: string | null;
  bytes: number | null;
  durationMs: number | null;
  error: string | null;
}

export interface NotifyRequest {
  target: NotifyTarget;
  url: string;
  body: string;
  contentType: string;
}

/** The webhook's JSON body: every key is always present (null when it does not apply). */
export interface WebhookPayload extends RunEvent {
  cluster: string;
  time: string;
}

// healthchecks.io (and services that copy its API) read the path suffix; success is the bare URL.
const PING_SUFFIX: Record<RunEvent["event"], string> = { start: "/start", success: "", failure: "/fail" };

/** The ping URL for an event: the suffix goes on the path, before any query string (`?create=1`). */
export function pingUrl(base: string, event: RunEvent["event"]): string {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, "") + PING_SUFFIX[event];
  return url.toString();
}

/** A short text body for the ping: healthchecks.io shows it in the event log, so a failure names its cause. */
export function pingBody(event: RunEvent): string {
  if (event.event === "start") return `pgfort job ${event.job} started`;
  if (event.event === "failure") return `pgfort job ${event.job} failed: ${event.error ?? "unknown cause"}`;
  return `pgfort job ${event.job} succeeded: backup ${event.backupId ?? "?"}, ${event.bytes ?? 0} bytes in ${event.durationMs ?? 0} ms`;
}

export function webhookPayload(event: RunEvent, cluster: string, now: Date): WebhookPayload {
  return { ...event, cluster, time: now.toISOString() };
}

/** The requests for one event, one per configured target. */
export function planNotifications(notify: NotifyConfig, cluster: string, event: RunEvent, now: Date): NotifyRequest[] {
  const requests: NotifyRequest[] = [];
  if (notify.ping) requests.push({ target: "ping", url: pingUrl(notify.ping, event.event), body: pingBody(event), contentType: "text/plain; charset=utf-8" });
  if (notify.webhook) {
    requests.push({ target: "webhook", url: notify.webhook, body: JSON.stringify(webhookPayload(event, cluster, now)), contentType: "application/json" });
  }
  return requests;
}

/** Scheme and host only: ping URLs carry their token in the path (hc-ping.com/<uuid>), webhooks in the query. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hasMore = parsed.pathname.length > 1 || parsed.search.length > 0;
    return `${parsed.protocol}//${parsed.host}${hasMore ? "/…" : "/"}`;
  } catch {
    return "(an invalid URL)";
  }
}

// A few quick retries: a notification is worth little minutes late, and all of them share one deadline.
export const RETRY_DELAYS_MS: readonly number[] = [100, 300, 900];

/** The wait before retry number `retry` (0-based), or null when there is none or it would end past the deadline. */
export function retryDelayMs(retry: number, remainingMs: number): number | null {
  const delay = RETRY_DELAYS_MS[retry];
  if (delay === undefined || delay >= remainingMs) return null;
  return delay;
}

/** Worth a retry: no answer at all, a server error, or "too many requests"; a 4xx says the URL is wrong. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
