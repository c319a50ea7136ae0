/** The sliding window of agent sessions per host: pure, with explicit times. */
import { describe, expect, it } from "vitest";
import { SessionLimit } from "../../../../controller/hub/session-limit.js";

describe("SessionLimit", () => {
  it("lets `max` sessions in per interval, then says how long until the oldest leaves the window", () => {
    const limit = new SessionLimit({ max: 3, intervalMs: 60_000 });
    for (const t of [0, 10_000, 20_000]) {
      expect(limit.waitFor(1, t)).toBe(0);
      limit.opened(1, t);
    }
    expect(limit.waitFor(1, 30_000)).toBe(30_000);
    // Another host is not affected.
    expect(limit.waitFor(2, 30_000)).toBe(0);
    // Once the first session is an interval old, one more may come.
    expect(limit.waitFor(1, 60_000)).toBe(0);
    limit.opened(1, 60_000);
    expect(limit.waitFor(1, 60_001)).toBe(9_999);
  });

  it("a reconnect now and then is never refused", () => {
    const limit = new SessionLimit({ max: 10, intervalMs: 60_000 });
    for (let t = 0; t < 3_600_000; t += 30_000) {
      expect(limit.waitFor(7, t)).toBe(0);
      limit.opened(7, t);
    }
  });
});
