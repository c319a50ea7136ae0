/**
 * Run notifications: a JSON POST to each configured webhook on run start and
 * end, on every rollback and on every VM that needs attention. Delivery never
 * holds up a run: it happens in the background, is retried three times with a
 * growing pause, and a failure is logged and counted.
 */
import type { Logger } from "../../shared/logging.js";
import { errorMessage } from "../../shared/errors.js";

export type RunNotificationEvent = "run-started" | "run-finished" | "vm-rolled-back" | "vm-needs-attention";

export interface RunNotification {
  event: RunNotificationEvent;
  time: string;
  run: { id: string; name: string; url?: string };
  vm?: { name: string; host: string; outcome: string; reason: string | null };
  summary?: Record<string, number>;
  haltReason?: string | null;
}

export interface NotifierOptions {
  webhooks: string[];
  timeoutMs: number;
  log: Logger;
  onFailure?(url: string): void;
}

export class RunNotifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: NotifierOptions) {}

  notify(notification: RunNotification): void {
    for (const url of this.options.webhooks) {
      const delivery = this.deliver(url, notification).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
  }

  /** Waits for deliveries under way (shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async deliver(url: string, notification: RunNotification): Promise<void> {
    const body = JSON.stringify(notification);
    let lastError = "";
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await fetch(url, {
          method: "POST", body, headers: { "content-type": "application/json", "user-agent": "nightshift-controller" },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        await res.body?.cancel();
        if (res.ok) return;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = errorMessage(err);
      }
      if (attempt < 3) await new Promise((r) => setTimeout(r, attempt * 1000));
    }
    this.options.onFailure?.(url);
    this.options.log.warn({ url, event: notification.event, run: notification.run.id, error: lastError },
      "webhook delivery failed after 3 attempts");
  }
}
