/**
 * Retry delays: exponential backoff with full jitter, and a +-fraction jitter
 * for periodic ticks. Pure; the random source is injectable for tests.
 */

export type Random = () => number;

export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  random?: Random;
}

/**
 * Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the
 * n-th retry waits a uniform random time in [initial, min(max, initial * 2^n)].
 * The floor of `initial` keeps a fleet that lost its controller from
 * reconnecting with zero delay; the spread keeps it from coming back in step.
 */
export class Backoff {
  private attempt = 0;
  private readonly random: Random;
  private readonly initial: number;
  private readonly max: number;

  constructor(options: BackoffOptions) {
    this.initial = options.initialDelayMs;
    this.max = Math.max(options.maxDelayMs, options.initialDelayMs);
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call moves one step up. */
  next(): number {
    const ceiling = Math.min(this.max, this.initial * 2 ** Math.min(this.attempt, 52));
    this.attempt++;
    return Math.round(this.initial + this.random() * (ceiling - this.initial));
  }

  /**
   * The delay after a refusal that retrying soon cannot fix (401, 409): in
   * [max/2, max], still jittered so a fleet with a revoked token spreads out.
   */
  nextAtMax(): number {
    this.attempt = Math.max(this.attempt, Math.ceil(Math.log2(this.max / this.initial)) + 1);
    const floor = Math.max(this.initial, this.max / 2);
    return Math.round(floor + this.random() * (this.max - floor));
  }

  /** After a session that worked: the next failure starts from the initial delay again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** `base` moved by a uniform random amount within +-fraction (0.2 -> 80%..120%). */
export function jitter(base: number, fraction: number, random: Random = Math.random): number {
  return Math.round(base * (1 - fraction + 2 * fraction * random()));
}
