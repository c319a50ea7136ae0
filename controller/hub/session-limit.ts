/**
 * How many sessions each host's agent opened lately: a sliding window of
 * their start times. An enrolled agent (or a stolen token) that connects and
 * hangs up in a loop would otherwise write a session row and two history rows
 * each time; past the limit its upgrades are refused before anything is
 * written, and only accepted sessions count, so the host is let in again as
 * soon as its oldest session in the window is old enough.
 */
export interface SessionLimitOptions {
  max: number;
  intervalMs: number;
}

export class SessionLimit {
  /** Start times within the window, oldest first; at most `max` per host. */
  private readonly starts = new Map<number, number[]>();

  constructor(private readonly opts: SessionLimitOptions) {}

  /** Milliseconds until the host may open a session, or 0 when it may now. */
  waitFor(hostId: number, now = Date.now()): number {
    const recent = this.prune(hostId, now);
    if (recent.length < this.opts.max) return 0;
    return recent[0]! + this.opts.intervalMs - now;
  }

  opened(hostId: number, now = Date.now()): void {
    const recent = this.prune(hostId, now);
    recent.push(now);
    if (recent.length > this.opts.max) recent.shift();
    this.starts.set(hostId, recent);
  }

  private prune(hostId: number, now: number): number[] {
    const recent = this.starts.get(hostId) ?? [];
    while (recent.length > 0 && recent[0]! <= now - this.opts.intervalMs) recent.shift();
    if (recent.length === 0) this.starts.delete(hostId);
    return recent;
  }
}
