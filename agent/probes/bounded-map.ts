/**
 * An async function over a list with at most `limit` calls in flight, started
 * in list order. Probes use it for work that spawns a child per item (getent
 * per server name, `test -e` per path): all at once, a thousand items are a
 * thousand processes, and the event loop spends seconds spawning them while
 * timers (the probe's own timeout among them) wait. Once `signal` aborts,
 * nothing more is started: the rest are "skipped", and the calls in flight
 * are the callee's to stop (they get the signal).
 */
export type Outcome<R> = { state: "done"; value: R } | { state: "failed"; error: unknown } | { state: "skipped" };

export async function mapBounded<T, R>(
  items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<Outcome<R>[]> {
  const outcomes: Outcome<R>[] = items.map(() => ({ state: "skipped" }));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal.aborted) {
      const i = next++;
      try {
        outcomes[i] = { state: "done", value: await fn(items[i]!, signal) };
      } catch (error) {
        outcomes[i] = { state: "failed", error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return outcomes;
}
