/** mapBounded: at most `limit` calls in flight, started in order, nothing started once the signal aborts. */
import { describe, expect, it } from "vitest";
import { mapBounded } from "../../../../agent/probes/bounded-map.js";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("mapBounded", () => {
  it("keeps at most `limit` in flight, starts in order, and records each outcome in place", async () => {
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const out = await mapBounded(Array.from({ length: 30 }, (_, i) => i), 4, new AbortController().signal, async (i) => {
      started.push(i);
      most = Math.max(most, ++inFlight);
      await tick(i % 3);
      inFlight--;
      if (i === 7) throw new Error("seven");
      return i * 2;
    });
    expect(most).toBe(4);
    expect(started).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(out[3]).toEqual({ state: "done", value: 6 });
    expect(out[7]).toMatchObject({ state: "failed", error: new Error("seven") });
    expect(out.filter((o) => o.state === "done")).toHaveLength(29);
  });

  it("starts nothing more once the signal aborts: the rest are skipped, the calls in flight get the signal", async () => {
    const stop = new AbortController();
    const signals: AbortSignal[] = [];
    const out = await mapBounded(Array.from({ length: 100 }, (_, i) => i), 2, stop.signal, async (i, signal) => {
      signals.push(signal);
      if (i === 5) stop.abort();
      await tick(1);
      return i;
    });
    expect(out.slice(0, 6).every((o) => o.state === "done")).toBe(true);
    expect(out.filter((o) => o.state === "skipped").length).toBeGreaterThanOrEqual(100 - 7);
    expect(signals.every((s) => s === stop.signal)).toBe(true);
    expect(await mapBounded([1, 2], 8, stop.signal, async (i) => i)).toEqual([{ state: "skipped" }, { state: "skipped" }]);
  });
});
