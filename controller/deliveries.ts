/**
 * Background delivery of notifications (run and plan webhooks, plan mail):
 * it never holds up the caller, tries three times with a growing pause, and a
 * delivery that still fails is logged and counted, never thrown.
 */
import type { Logger } from "../shared/logging.js";
import { errorMessage } from "../shared/errors.js";

export interface DeliveriesOptions {
  log: Logger;
  /** Called once per delivery that failed all three attempts (the webhook failure counter). */
  onFailure?(target: string): void;
}

const ATTEMPTS = 3;

export class Deliveries {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: DeliveriesOptions) {}

  /** Runs `attempt` in the background until it succeeds, at most three times; `context` goes into the failure's log line. */
  send(target: string, context: Record<string, unknown>, attempt: () => Promise<void>): void {
    const delivery = this.retry(target, context, attempt).finally(() => this.inFlight.delete(delivery));
    this.inFlight.add(delivery);
  }

  /** Waits for deliveries under way (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async retry(target: string, context: Record<string, unknown>, attempt: () => Promise<void>): Promise<void> {
    let lastError = "";
    for (let i = 1; i <= ATTEMPTS; i++) {
      try {
        await attempt();
        return;
      } catch (err) {
        lastError = errorMessage(err);
      }
      if (i < ATTEMPTS) await new Promise((r) => setTimeout(r, i * 1000));
    }
    this.options.onFailure?.(target);
    this.options.log.warn({ target, ...context, error: lastError }, `notification delivery failed after ${ATTEMPTS} attempts`);
  }
}

/** POSTs a JSON body; anything but a 2xx answer is an error. */
export async function postJson(url: string, body: string, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: "POST", body, headers: { "content-type": "application/json", "user-agent": "nightshift-controller" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}
