import { describe, expect, it } from "vitest";
import { Backoff, jitter } from "../../../../agent/daemon/backoff.js";

/** A random source that returns the given values in turn. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe("Backoff", () => {
  it("doubles the ceiling each attempt, from initial up to max", () => {
    const top = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 1 });
    expect(Array.from({ length: 7 }, () => top.next())).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    const bottom = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0 });
    expect(Array.from({ length: 5 }, () => bottom.next())).toEqual([100, 100, 100, 100, 100]);
  });

  it("spreads each delay uniformly between initial and the ceiling (full jitter)", () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: sequence(0.5) });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 150, 250, 450, 550]);
    const real = new Backoff({ initialDelayMs: 500, maxDelayMs: 30_000 });
    for (let i = 0; i < 50; i++) {
      const d = real.next();
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });

  it("starts over after reset", () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 1 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(100);
  });

  it("goes to the top after a refusal: [max/2, max], and stays high for later failures", () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: sequence(0, 1) });
    expect(b.nextAtMax()).toBe(500);
    expect(b.nextAtMax()).toBe(1_000);
    // A plain failure after a refusal does not fall back to 100 ms.
    const after = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 1 });
    after.nextAtMax();
    expect(after.next()).toBe(1_000);
  });

  it("never goes below initial when initial is more than half of max", () => {
    const b = new Backoff({ initialDelayMs: 800, maxDelayMs: 1_000, random: () => 0 });
    expect(b.nextAtMax()).toBe(800);
  });

  it("survives many attempts without overflowing", () => {
    const b = new Backoff({ initialDelayMs: 1, maxDelayMs: 5_000, random: () => 1 });
    for (let i = 0; i < 2_000; i++) b.next();
    expect(b.next()).toBe(5_000);
  });
});

describe("jitter", () => {
  it("moves a period by at most the fraction either way", () => {
    expect(jitter(1_000, 0.2, () => 0)).toBe(800);
    expect(jitter(1_000, 0.2, () => 0.5)).toBe(1_000);
    expect(jitter(1_000, 0.2, () => 1)).toBe(1_200);
    for (let i = 0; i < 100; i++) {
      const d = jitter(300_000, 0.2);
      expect(d).toBeGreaterThanOrEqual(240_000);
      expect(d).toBeLessThanOrEqual(360_000);
    }
  });
});
