/**
 * A stage of a probe that must end by a time of its own, before the probe's
 * timeout: a signal that aborts at `deadline` (performance.now() clock) or
 * with the probe's signal, whichever comes first. Children started under it
 * are killed then (run-tool.ts), and the probe reports what it has.
 */
export interface StageSignal {
  signal: AbortSignal;
  /** Whether it was the deadline (not the probe's signal) that ended the stage. */
  readonly expired: boolean;
  /** Removes the timer and the listener; call when the stage is over. */
  done(): void;
}

export function stageSignal(probe: AbortSignal, deadline: number, why: string): StageSignal {
  const stop = new AbortController();
  let expired = false;
  const onAbort = () => stop.abort(probe.reason);
  if (probe.aborted) onAbort();
  else probe.addEventListener("abort", onAbort, { once: true });
  const expire = () => {
    expired = true;
    stop.abort(new Error(why));
  };
  // Already past: nothing of the stage may start.
  const left = deadline - performance.now();
  if (left <= 0) expire();
  const timer = setTimeout(expire, Math.max(0, left));
  return {
    signal: stop.signal,
    get expired() {
      return expired;
    },
    done() {
      clearTimeout(timer);
      probe.removeEventListener("abort", onAbort);
    },
  };
}

/** A point `share` (0..1) of the way from now to `deadline`; without a deadline, of `fallbackMs` from now. */
export function shareOf(deadline: number | undefined, fallbackMs: number, share: number): number {
  const now = performance.now();
  return now + ((deadline ?? now + fallbackMs) - now) * share;
}
