/**
 * Run notifications: a JSON POST to each configured webhook on run start and
 * end, on every rollback and on every VM that needs attention. Delivery never
 * holds up a run: it happens in the background, is retried three times with a
 * growing pause, and a failure is logged and counted.
 */
import type { Logger } from "../../shared/logging.js";
import { Deliveries, postJson } from "../deliveries.js";

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
  private readonly deliveries: Deliveries;

  constructor(private readonly options: NotifierOptions) {
    this.deliveries = new Deliveries({ log: options.log, ...(options.onFailure ? { onFailure: options.onFailure } : {}) });
  }

  notify(notification: RunNotification): void {
    const body = JSON.stringify(notification);
    for (const url of this.options.webhooks) {
      this.deliveries.send(url, { event: notification.event, run: notification.run.id }, () => postJson(url, body, this.options.timeoutMs));
    }
  }

  /** Waits for deliveries under way (shutdown, tests). */
  settled(): Promise<void> {
    return this.deliveries.settled();
  }
}
