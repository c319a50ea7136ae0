/**
 * Refused agents (a duplicate, one over its session limit) in the append-only
 * history, one instance per reason, without letting a loop of connects flood it: the first refusal for a host is written at once,
 * the ones after it within the interval are counted and written as one row
 * when the interval ends. Each row's `refusals` says how many it stands for,
 * so the rows add up to every refusal; the metric counts each one as it happens.
 */
import type { Store } from "../store/index.js";
import type { Logger } from "../../shared/logging.js";
import { recordHostEvent } from "./host-events.js";

export interface Rejection {
  remote: string | null;
  existing: string | null;
}

interface Interval {
  /** Refusals since the last row. */
  pending: number;
  latest: Rejection | null;
  since: number;
  timer: NodeJS.Timeout;
}

export class RejectionHistory {
  private readonly intervals = new Map<number, Interval>();

  /** `reason` goes into every row's data: "duplicate agent", "too many sessions". */
  constructor(private readonly store: Store, private readonly intervalMs: number, private readonly log: Logger, private readonly reason: string) {}

  record(hostId: number, rejection: Rejection, now = Date.now()): void {
    const open = this.intervals.get(hostId);
    if (open) {
      open.pending++;
      open.latest = rejection;
      return;
    }
    this.write(hostId, 1, rejection, now, now);
    this.open(hostId, now);
  }

  /** Writes what is pending (at shutdown) and forgets every interval. */
  flush(): void {
    const now = Date.now();
    for (const [hostId, interval] of this.intervals) {
      clearTimeout(interval.timer);
      if (interval.pending > 0) this.write(hostId, interval.pending, interval.latest!, interval.since, now);
    }
    this.intervals.clear();
  }

  private open(hostId: number, now: number): void {
    const timer = setTimeout(() => this.ended(hostId), this.intervalMs);
    timer.unref();
    this.intervals.set(hostId, { pending: 0, latest: null, since: now, timer });
  }

  private ended(hostId: number): void {
    const interval = this.intervals.get(hostId);
    this.intervals.delete(hostId);
    if (!interval || interval.pending === 0) return;
    const now = Date.now();
    this.write(hostId, interval.pending, interval.latest!, interval.since, now);
    // Refusals still coming: the next row is another interval away.
    this.open(hostId, now);
  }

  private write(hostId: number, refusals: number, rejection: Rejection, since: number, now: number): void {
    try {
      recordHostEvent(this.store, hostId, "rejected", now, {
        reason: this.reason, remote: rejection.remote, existing: rejection.existing, refusals, since: new Date(since).toISOString(),
      });
    } catch (err) {
      // Also called from a timer: a failed write is logged, never thrown.
      this.log.error({ err, hostId, refusals }, `recording refused agents (${this.reason}) failed`);
    }
  }
}
