/**
 * Occupancy indexes for the scheduler, all in whole minutes.
 *
 * - `CapacityTimeline`: how many slots are in progress at each minute of the
 *   planning range, as a segment tree with lazy range-add over min and max, so
 *   "the first full minute in [a, b)" and "the first minute from m on with
 *   room" are O(log n) — a request never walks a busy night minute by minute.
 * - `KeyedIntervals`: slots by key (an HA group, a hypervisor's VMs, a
 *   machine) for the small per-key checks: anything overlapping, and the first
 *   point where a per-key limit is reached.
 */

export class CapacityTimeline {
  readonly size: number;
  private readonly max: Int32Array;
  private readonly min: Int32Array;
  private readonly lazy: Int32Array;

  /** Minutes [0, size). */
  constructor(size: number) {
    this.size = Math.max(1, size);
    this.max = new Int32Array(4 * this.size);
    this.min = new Int32Array(4 * this.size);
    this.lazy = new Int32Array(4 * this.size);
  }

  /** Adds `delta` to every minute in [from, to), clipped to the range. */
  add(from: number, to: number, delta = 1): void {
    const a = Math.max(0, from);
    const b = Math.min(this.size, to);
    if (a < b) this.addRange(1, 0, this.size, a, b, delta);
  }

  /** The count at one minute. */
  at(minute: number): number {
    if (minute < 0 || minute >= this.size) return 0;
    let node = 1, lo = 0, hi = this.size, acc = 0;
    while (hi - lo > 1) {
      acc += this.lazy[node]!;
      const mid = (lo + hi) >> 1;
      if (minute < mid) { node = 2 * node; hi = mid; } else { node = 2 * node + 1; lo = mid; }
    }
    return acc + this.max[node]!;
  }

  /** The first minute in [from, to) whose count is >= limit, or -1. */
  firstAtLeast(from: number, to: number, limit: number): number {
    const a = Math.max(0, from);
    const b = Math.min(this.size, to);
    return a < b ? this.findAtLeast(1, 0, this.size, a, b, limit, 0) : -1;
  }

  /** The first minute >= from whose count is < limit, or `size` when none. */
  firstBelow(from: number, limit: number): number {
    if (from >= this.size) return Math.max(from, this.size);
    const found = this.findBelow(1, 0, this.size, Math.max(0, from), limit, 0);
    return found < 0 ? this.size : found;
  }

  private addRange(node: number, lo: number, hi: number, a: number, b: number, delta: number): void {
    if (a <= lo && hi <= b) {
      this.max[node]! += delta;
      this.min[node]! += delta;
      this.lazy[node]! += delta;
      return;
    }
    const mid = (lo + hi) >> 1;
    if (a < mid) this.addRange(2 * node, lo, mid, a, b, delta);
    if (b > mid) this.addRange(2 * node + 1, mid, hi, a, b, delta);
    const l = 2 * node, r = 2 * node + 1, own = this.lazy[node]!;
    this.max[node] = Math.max(this.max[l]!, this.max[r]!) + own;
    this.min[node] = Math.min(this.min[l]!, this.min[r]!) + own;
  }

  // `acc` is the sum of the ancestors' pending adds; a node's max/min include its own.
  private findAtLeast(node: number, lo: number, hi: number, a: number, b: number, limit: number, acc: number): number {
    if (hi <= a || lo >= b || this.max[node]! + acc < limit) return -1;
    if (hi - lo === 1) return lo;
    const mid = (lo + hi) >> 1;
    const down = acc + this.lazy[node]!;
    const left = this.findAtLeast(2 * node, lo, mid, a, b, limit, down);
    return left >= 0 ? left : this.findAtLeast(2 * node + 1, mid, hi, a, b, limit, down);
  }

  private findBelow(node: number, lo: number, hi: number, a: number, limit: number, acc: number): number {
    if (hi <= a || this.min[node]! + acc >= limit) return -1;
    if (hi - lo === 1) return lo;
    const mid = (lo + hi) >> 1;
    const down = acc + this.lazy[node]!;
    const left = this.findBelow(2 * node, lo, mid, a, limit, down);
    return left >= 0 ? left : this.findBelow(2 * node + 1, mid, hi, a, limit, down);
  }
}

export interface KeyedInterval {
  start: number;
  end: number;
  /** Who holds it (a request or booking id), for the reasons. */
  owner: string;
}

export class KeyedIntervals {
  private readonly byKey = new Map<string, KeyedInterval[]>();

  add(key: string, interval: KeyedInterval): void {
    const list = this.byKey.get(key);
    if (list) list.push(interval);
    else this.byKey.set(key, [interval]);
  }

  list(key: string): readonly KeyedInterval[] {
    return this.byKey.get(key) ?? [];
  }

  /** Intervals under `key` overlapping [from, to). */
  overlapping(key: string, from: number, to: number): KeyedInterval[] {
    return this.list(key).filter((i) => i.start < to && i.end > from);
  }

  /**
   * Where [from, to) first meets `limit` intervals of `key` at once: the point,
   * and the earliest end among those then in progress (the first moment the
   * count drops again). null when the limit is never reached.
   */
  firstFull(key: string, from: number, to: number, limit: number): { at: number; freeAt: number } | null {
    const hits = this.overlapping(key, from, to);
    if (hits.length < limit) return null;
    const points = [...new Set(hits.map((i) => Math.max(i.start, from)))].sort((a, b) => a - b);
    for (const at of points) {
      const active = hits.filter((i) => i.start <= at && i.end > at);
      if (active.length >= limit) return { at, freeAt: Math.min(...active.map((i) => i.end)) };
    }
    return null;
  }
}
