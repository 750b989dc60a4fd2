// Run events to the configured targets, each bounded by notify.timeout. A failure to notify is
// reported (metric and warning, by the caller's `onFailure`) and never reaches the job.
import type { NotifyConfig } from "../config/schema";
import { planNotifications, redactUrl, type NotifyTarget, type RunEvent } from "./plan";
import { sendNotification } from "./send";

export interface NotifyFailure {
  target: NotifyTarget;
  /** Safe to log: the URL in it is redacted. */
  message: string;
}

export interface RunNotifier {
  /**
   * Sends `event` to every target; resolves by `fromMs + timeout` (default: now) and never rejects.
   * Passing the time a run ended keeps that run's added delay within the timeout.
   */
  notify(event: RunEvent, fromMs?: number): Promise<void>;
}

export class Notifier implements RunNotifier {
  constructor(
    private readonly config: NotifyConfig,
    private readonly cluster: string,
    private readonly onFailure: (failure: NotifyFailure) => void,
  ) {}

  get isConfigured(): boolean {
    return Boolean(this.config.ping ?? this.config.webhook);
  }

  async notify(event: RunEvent, fromMs = Date.now()): Promise<void> {
    const deadlineMs = fromMs + this.config.timeout;
    try {
      const requests = planNotifications(this.config, this.cluster, event, new Date());
      await Promise.all(
        requests.map(async (request) => {
          const result = await sendNotification(request, deadlineMs);
          if (!result.delivered) {
            const tries = result.attempts === 1 ? "1 attempt" : `${result.attempts} attempts`;
            this.report({ target: request.target, message: `notify ${request.target} ${redactUrl(request.url)}: ${event.event} of job ${event.job} not delivered (${result.reason}, ${tries})` });
          }
        }),
      );
    } catch (error) {
      // Only a bug gets here (send never throws); it still must not fail the job.
      this.report({ target: this.config.ping ? "ping" : "webhook", message: `notify: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  private report(failure: NotifyFailure): void {
    try {
      this.onFailure(failure);
    } catch {
      // A throwing reporter must not turn a notification problem into a job failure.
    }
  }
}
