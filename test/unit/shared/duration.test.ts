/** `--since` and `since=`: durations and ISO 8601 times only, never whatever Date.parse makes of a text. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { durationProblem, formatDuration, parseDuration, parseSince } from "../../../shared/duration.js";
import { parseIsoTime } from "../../../shared/iso-time.js";

const NOW = Date.parse("2026-11-23T12:00:00Z");
const DURATION = /^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*$/i;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

describe("parseSince", () => {
  it("takes durations back from now", () => {
    expect(parseSince("90s", NOW)).toBe(NOW - 90_000);
    expect(parseSince("15m", NOW)).toBe(NOW - 900_000);
    expect(parseSince("2d", NOW)).toBe(NOW - 2 * 86_400_000);
    expect(parseSince("500ms", NOW)).toBe(NOW - 500);
  });

  it("refuses a bare number: seconds or minutes?", () => {
    expect(parseSince("120", NOW)).toBeNull();
  });

  it("takes ISO 8601 dates (midnight UTC) and date-times with Z or an offset", () => {
    expect(parseSince("2026-11-23", NOW)).toBe(Date.parse("2026-11-23T00:00:00Z"));
    expect(parseSince("2026-11-23T06:00Z", NOW)).toBe(Date.parse("2026-11-23T06:00:00Z"));
    expect(parseSince("2026-11-23T07:00:00.5+01:00", NOW)).toBe(Date.parse("2026-11-23T06:00:00.500Z"));
    expect(parseSince("2024-02-29T00:00:00Z", NOW)).toBe(Date.parse("2024-02-29T00:00:00Z"));
  });

  it.each(["foo 1", "+1", "May 1", "x 99", "abc 2020", "1/2/3", "Tue 5", "2026-02-30", "2025-02-29", "2026-13-01", "2026-11-23T24:00Z",
    "2026-11-23T10:60Z", "2026-11-23T00:00:00", "2026-11-23 06:00Z", "2026-11-23T06:00:00+25:00", "9".repeat(400), "", " "])("refuses %j", (text) => {
    expect(parseSince(text, NOW)).toBeNull();
  });

  it("refuses every text that is neither a duration nor an ISO 8601 time (property)", () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(..."0123456789 -:+TZ.abcdefmshwMay/"), maxLength: 30 }), (text) => {
      const parsed = parseSince(text, NOW);
      if (!DURATION.test(text) && !ISO.test(text)) expect(parsed).toBeNull();
      if (parsed !== null) expect(Number.isFinite(parsed)).toBe(true);
    }), { seed: 20261123, numRuns: 2_000 });
  });

  it("reads back every ISO 8601 time it would print (property)", () => {
    fc.assert(fc.property(fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }), (d) => {
      expect(parseIsoTime(d.toISOString())).toBe(d.getTime());
    }), { seed: 20261123, numRuns: 1_000 });
  });
});

describe("parseDuration", () => {
  it("refuses a number too large to be a duration", () => {
    expect(parseDuration("1e3")).toBeNull();
    expect(parseDuration(`${"9".repeat(400)}w`)).toBeNull();
    expect(parseDuration("1w")).toBe(604_800_000);
  });

  it("takes every unit, and refuses a number without one", () => {
    expect([parseDuration("100ms"), parseDuration("30s"), parseDuration("15m"), parseDuration("2h"), parseDuration("3d"), parseDuration("1.5h")])
      .toEqual([100, 30_000, 900_000, 7_200_000, 259_200_000, 5_400_000]);
    for (const bare of ["30", "0", " 2.5 ", "90"]) expect(parseDuration(bare), bare).toBeNull();
    expect(durationProblem("30")).toBe("a bare number is not a duration: give its unit, like 30s or 30m");
    expect(durationProblem("soon")).toBe("expected a duration like 90s, 15m, 1h, 3d");
    expect(durationProblem("15m")).toBeNull();
  });

  it("formatDuration writes the largest whole unit and reads back (property)", () => {
    expect([formatDuration(90_000), formatDuration(300_000), formatDuration(86_400_000), formatDuration(2_500), formatDuration(0)])
      .toEqual(["90s", "5m", "1d", "2500ms", "0s"]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }), { seed: 20261123, numRuns: 2_000 });
  });
});
