/**
 * Window occurrences across zones and DST changes. Expected instants come from
 * the zones' published rules (2025): Europe/Berlin jumps 02:00->03:00 on
 * 30 March (01:00Z) and falls back 03:00->02:00 on 26 October (01:00Z);
 * America/New_York jumps 02:00->03:00 on 9 March (07:00Z) and falls back
 * 02:00->01:00 on 2 November (06:00Z); Australia/Sydney falls back
 * 03:00->02:00 on 6 April (16:00Z the day before) and jumps 02:00->03:00 on
 * 5 October (16:00Z the day before); Asia/Kolkata is +05:30 all year.
 */
import { describe, expect, it } from "vitest";
import { MaintenancePreferenceSchema, WEEKDAYS, type MaintenancePreferenceInput } from "../../../../shared/windows.js";
import { availableWindows, localDate, wallToInstant, windowCalendar, windowOccurrences, zoneOffsetMs }
  from "../../../../controller/planning/time-windows.js";

const H = 3_600_000;
const DAY = 24 * H;
const t = (iso: string) => Date.parse(iso);

function pref(input: Omit<MaintenancePreferenceInput, "group">) {
  return MaintenancePreferenceSchema.parse({ group: "g", ...input });
}

function weekdayOf(date: string) {
  return WEEKDAYS[(new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7]!;
}

/** Occurrences of one window opening on one local date, as [startISO, endISO]. */
function openingOn(zone: string, date: string, start: string, end: string): [string, string][] {
  const p = pref({ timezone: zone, windows: [{ days: [weekdayOf(date)], start, end }] });
  const from = t(`${date}T00:00:00Z`) - 2 * DAY;
  return windowOccurrences(p, from, from + 5 * DAY)
    .filter((o) => o.date === date)
    .map((o) => [new Date(o.start).toISOString(), new Date(o.end).toISOString()]);
}

describe("window occurrences across zones and DST", () => {
  const rows: { zone: string; date: string; win: [string, string]; expected: [string, string][]; why: string }[] = [
    // Clocks jump forward: a window wholly inside the skipped hour has no occurrence (rule 3).
    { zone: "Europe/Berlin", date: "2025-03-30", win: ["02:00", "03:00"], expected: [], why: "02:00-03:00 does not exist" },
    { zone: "America/New_York", date: "2025-03-09", win: ["02:00", "03:00"], expected: [], why: "02:00-03:00 does not exist" },
    { zone: "Australia/Sydney", date: "2025-10-05", win: ["02:00", "03:00"], expected: [], why: "02:00-03:00 does not exist" },
    // ... a window around it lasts an hour less; a start inside the gap opens at the jump.
    { zone: "Europe/Berlin", date: "2025-03-30", win: ["01:00", "04:00"], expected: [["2025-03-30T00:00:00.000Z", "2025-03-30T02:00:00.000Z"]], why: "3 wall hours, 2 real" },
    { zone: "Europe/Berlin", date: "2025-03-30", win: ["02:30", "04:00"], expected: [["2025-03-30T01:00:00.000Z", "2025-03-30T02:00:00.000Z"]], why: "opens at the jump" },
    { zone: "America/New_York", date: "2025-03-09", win: ["01:30", "03:30"], expected: [["2025-03-09T06:30:00.000Z", "2025-03-09T07:30:00.000Z"]], why: "2 wall hours, 1 real" },
    { zone: "Australia/Sydney", date: "2025-10-05", win: ["01:00", "04:00"], expected: [["2025-10-04T15:00:00.000Z", "2025-10-04T17:00:00.000Z"]], why: "3 wall hours, 2 real" },
    // Clocks fall back: from the first start to the last end (rule 2).
    { zone: "Europe/Berlin", date: "2025-10-26", win: ["02:00", "03:00"], expected: [["2025-10-26T00:00:00.000Z", "2025-10-26T02:00:00.000Z"]], why: "first 02:00 to 03:00: 2 h" },
    { zone: "Europe/Berlin", date: "2025-10-26", win: ["01:00", "04:00"], expected: [["2025-10-25T23:00:00.000Z", "2025-10-26T03:00:00.000Z"]], why: "3 wall hours, 4 real" },
    { zone: "America/New_York", date: "2025-11-02", win: ["01:00", "02:00"], expected: [["2025-11-02T05:00:00.000Z", "2025-11-02T07:00:00.000Z"]], why: "the repeated hour is 01:00-02:00" },
    { zone: "America/New_York", date: "2025-11-02", win: ["02:00", "03:00"], expected: [["2025-11-02T07:00:00.000Z", "2025-11-02T08:00:00.000Z"]], why: "02:00 is not repeated in New York" },
    { zone: "Australia/Sydney", date: "2025-04-06", win: ["02:00", "03:00"], expected: [["2025-04-05T15:00:00.000Z", "2025-04-05T17:00:00.000Z"]], why: "first 02:00 to 03:00: 2 h" },
    // Ordinary nights and zones without DST.
    { zone: "Europe/Berlin", date: "2025-03-23", win: ["02:00", "03:00"], expected: [["2025-03-23T01:00:00.000Z", "2025-03-23T02:00:00.000Z"]], why: "winter time" },
    { zone: "Europe/Berlin", date: "2025-06-15", win: ["02:00", "03:00"], expected: [["2025-06-15T00:00:00.000Z", "2025-06-15T01:00:00.000Z"]], why: "summer time" },
    { zone: "Asia/Kolkata", date: "2025-03-30", win: ["02:00", "03:00"], expected: [["2025-03-29T20:30:00.000Z", "2025-03-29T21:30:00.000Z"]], why: "+05:30" },
    { zone: "UTC", date: "2025-03-30", win: ["02:00", "03:00"], expected: [["2025-03-30T02:00:00.000Z", "2025-03-30T03:00:00.000Z"]], why: "UTC" },
    // Crossing midnight (end <= start), also into a DST night.
    { zone: "Europe/Berlin", date: "2025-03-29", win: ["22:00", "02:00"], expected: [["2025-03-29T21:00:00.000Z", "2025-03-30T01:00:00.000Z"]], why: "end in the gap closes at the jump" },
    { zone: "Europe/Berlin", date: "2025-03-29", win: ["22:00", "03:00"], expected: [["2025-03-29T21:00:00.000Z", "2025-03-30T01:00:00.000Z"]], why: "5 wall hours, 4 real" },
    { zone: "America/New_York", date: "2025-11-01", win: ["23:00", "01:00"], expected: [["2025-11-02T03:00:00.000Z", "2025-11-02T06:00:00.000Z"]], why: "the last 01:00: 3 h" },
    { zone: "Australia/Sydney", date: "2025-04-05", win: ["22:00", "04:00"], expected: [["2025-04-05T11:00:00.000Z", "2025-04-05T18:00:00.000Z"]], why: "6 wall hours, 7 real" },
    { zone: "Asia/Kolkata", date: "2025-06-10", win: ["23:30", "00:30"], expected: [["2025-06-10T18:00:00.000Z", "2025-06-10T19:00:00.000Z"]], why: "next day's 00:30" },
    { zone: "UTC", date: "2025-06-10", win: ["00:00", "00:00"], expected: [["2025-06-10T00:00:00.000Z", "2025-06-11T00:00:00.000Z"]], why: "start = end: a whole day" },
    { zone: "America/New_York", date: "2025-06-10", win: ["22:00", "04:00"], expected: [["2025-06-11T02:00:00.000Z", "2025-06-11T08:00:00.000Z"]], why: "EDT, next day" },
  ];

  it.each(rows)("$zone $date $win.0-$win.1: $why", ({ zone, date, win, expected }) => {
    expect(openingOn(zone, date, win[0], win[1])).toEqual(expected);
  });

  it("opens each listed weekday only, in the zone's week", () => {
    // Monday 2025-06-09 to Monday 2025-06-16; Tue/Thu 02:00-05:00 in Sydney fall on Mon/Wed in UTC.
    const p = pref({ timezone: "Australia/Sydney", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }] });
    const open = windowOccurrences(p, t("2025-06-09T00:00:00Z"), t("2025-06-16T00:00:00Z"));
    expect(open.map((o) => o.date)).toEqual(["2025-06-10", "2025-06-12"]);
    expect(open.map((o) => new Date(o.start).toISOString())).toEqual(["2025-06-09T16:00:00.000Z", "2025-06-11T16:00:00.000Z"]);
    expect(open.every((o) => o.end - o.start === 3 * H)).toBe(true);
  });

  it("clips occurrences to the range asked for", () => {
    const p = pref({ timezone: "UTC", windows: [{ days: ["tue"], start: "02:00", end: "05:00" }] });
    const open = windowOccurrences(p, t("2025-06-10T03:00:00Z"), t("2025-06-10T04:00:00Z"));
    expect(open.map((o) => [o.start, o.end])).toEqual([[t("2025-06-10T03:00:00Z"), t("2025-06-10T04:00:00Z")]]);
  });

  it("merges occurrences that touch into one (a slot may span them)", () => {
    const p = pref({ timezone: "Europe/Berlin", windows: [
      { days: ["tue"], start: "22:00", end: "00:00" },
      { days: ["wed"], start: "00:00", end: "04:00" },
    ] });
    const open = windowOccurrences(p, t("2025-06-09T00:00:00Z"), t("2025-06-16T00:00:00Z"));
    expect(open.map((o) => [new Date(o.start).toISOString(), new Date(o.end).toISOString()]))
      .toEqual([["2025-06-10T20:00:00.000Z", "2025-06-11T02:00:00.000Z"]]);
  });

  it("a group without windows has no occurrences", () => {
    expect(windowOccurrences(pref({ timezone: "UTC", windows: [] }), 0, 30 * DAY)).toEqual([]);
  });
});

describe("blackouts in the group's zone", () => {
  const rows: { zone: string; blackouts: MaintenancePreferenceInput["blackouts"]; win: [string, string]; expected: [string, string][]; blackedOut: string[]; why: string }[] = [
    {
      zone: "Australia/Sydney", blackouts: ["2025-06-11"], win: ["02:00", "04:00"], why: "the Sydney date, which is the 10th in UTC",
      expected: [["2025-06-08T16:00:00.000Z", "2025-06-08T18:00:00.000Z"], ["2025-06-09T16:00:00.000Z", "2025-06-09T18:00:00.000Z"],
        ["2025-06-11T16:00:00.000Z", "2025-06-11T18:00:00.000Z"]],
      blackedOut: ["2025-06-11"],
    },
    {
      zone: "America/New_York", blackouts: ["2025-06-11"], win: ["20:00", "22:00"], why: "New York evening, which is the next day in UTC",
      expected: [["2025-06-10T00:00:00.000Z", "2025-06-10T02:00:00.000Z"], ["2025-06-11T00:00:00.000Z", "2025-06-11T02:00:00.000Z"],
        ["2025-06-13T00:00:00.000Z", "2025-06-13T02:00:00.000Z"]],
      blackedOut: ["2025-06-11"],
    },
    {
      zone: "Europe/Berlin", blackouts: ["2025-06-11"], win: ["23:00", "01:00"], why: "cut at local midnight on both sides",
      expected: [["2025-06-09T21:00:00.000Z", "2025-06-09T23:00:00.000Z"], ["2025-06-10T21:00:00.000Z", "2025-06-10T22:00:00.000Z"],
        ["2025-06-11T22:00:00.000Z", "2025-06-11T23:00:00.000Z"], ["2025-06-12T21:00:00.000Z", "2025-06-12T23:00:00.000Z"]],
      blackedOut: ["2025-06-10", "2025-06-11"],
    },
    {
      zone: "Asia/Kolkata", blackouts: [{ from: "2025-06-10", to: "2025-06-11" }], win: ["02:00", "04:00"], why: "an inclusive range",
      expected: [["2025-06-08T20:30:00.000Z", "2025-06-08T22:30:00.000Z"], ["2025-06-11T20:30:00.000Z", "2025-06-11T22:30:00.000Z"]],
      blackedOut: ["2025-06-10", "2025-06-11"],
    },
    {
      zone: "UTC", blackouts: [], win: ["02:00", "04:00"], why: "nothing blacked out",
      expected: [["2025-06-09T02:00:00.000Z", "2025-06-09T04:00:00.000Z"], ["2025-06-10T02:00:00.000Z", "2025-06-10T04:00:00.000Z"],
        ["2025-06-11T02:00:00.000Z", "2025-06-11T04:00:00.000Z"], ["2025-06-12T02:00:00.000Z", "2025-06-12T04:00:00.000Z"]],
      blackedOut: [],
    },
  ];

  it.each(rows)("$zone $blackouts: $why", ({ zone, blackouts, win, expected, blackedOut }) => {
    // Occurrences opening 9-12 June (local).
    const p = pref({ timezone: zone, blackouts, windows: [{ days: ["mon", "tue", "wed", "thu"], start: win[0], end: win[1] }] });
    const calendar = windowCalendar(p, t("2025-06-08T12:00:00Z"), t("2025-06-13T12:00:00Z"));
    const iso = (o: { start: number; end: number }) => [new Date(o.start).toISOString(), new Date(o.end).toISOString()];
    expect(calendar.open.filter((o) => o.date >= "2025-06-09" && o.date <= "2025-06-12").map(iso)).toEqual(expected);
    expect(calendar.blackedOut.map((o) => o.date)).toEqual(blackedOut);
  });

  it("a blacked-out day in a DST change is the whole local day (23 or 25 hours)", () => {
    const p = pref({ timezone: "Europe/Berlin", blackouts: ["2025-10-26"], windows: [{ days: ["sat"], start: "00:00", end: "00:00" }, { days: ["mon"], start: "00:00", end: "00:00" }] });
    // Saturday 25 Oct (whole day) and Monday 27 Oct stay open; Sunday 26 (25 h long) is closed in between.
    const open = windowOccurrences(p, t("2025-10-24T00:00:00Z"), t("2025-10-29T00:00:00Z"));
    expect(open.map((o) => [new Date(o.start).toISOString(), new Date(o.end).toISOString()])).toEqual([
      ["2025-10-24T22:00:00.000Z", "2025-10-25T22:00:00.000Z"],
      ["2025-10-26T23:00:00.000Z", "2025-10-27T23:00:00.000Z"],
    ]);
  });
});

describe("notice periods", () => {
  const p = (notice: string) => pref({ timezone: "Europe/Berlin", notice, windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }] });
  const rows: { notice: string; assignedAt: string; expected: [string, string][]; why: string }[] = [
    { notice: "0s", assignedAt: "2025-06-09T10:00:00Z", why: "no notice: Tuesday's window",
      expected: [["2025-06-10T00:00:00.000Z", "2025-06-10T03:00:00.000Z"], ["2025-06-12T00:00:00.000Z", "2025-06-12T03:00:00.000Z"]] },
    { notice: "48h", assignedAt: "2025-06-09T10:00:00Z", why: "48 h: not before Wednesday 10:00Z, so Thursday",
      expected: [["2025-06-12T00:00:00.000Z", "2025-06-12T03:00:00.000Z"]] },
    { notice: "24h", assignedAt: "2025-06-09T01:00:00Z", why: "24 h lands inside Tuesday's window: it opens late",
      expected: [["2025-06-10T01:00:00.000Z", "2025-06-10T03:00:00.000Z"], ["2025-06-12T00:00:00.000Z", "2025-06-12T03:00:00.000Z"]] },
    { notice: "1w", assignedAt: "2025-06-09T10:00:00Z", why: "a week: nothing this week",
      expected: [] },
  ];

  it.each(rows)("$notice from $assignedAt: $why", ({ notice, assignedAt, expected }) => {
    const open = availableWindows(p(notice), t(assignedAt), t("2025-06-13T00:00:00Z"));
    expect(open.map((o) => [new Date(o.start).toISOString(), new Date(o.end).toISOString()])).toEqual(expected);
  });
});

describe("wall clock conversions", () => {
  const rows: { zone: string; wall: string; pick: "earliest" | "latest"; instant: string }[] = [
    { zone: "Europe/Berlin", wall: "2025-10-26T02:30", pick: "earliest", instant: "2025-10-26T00:30:00.000Z" },
    { zone: "Europe/Berlin", wall: "2025-10-26T02:30", pick: "latest", instant: "2025-10-26T01:30:00.000Z" },
    { zone: "Europe/Berlin", wall: "2025-03-30T02:30", pick: "earliest", instant: "2025-03-30T01:00:00.000Z" },
    { zone: "America/New_York", wall: "2025-11-02T01:15", pick: "latest", instant: "2025-11-02T06:15:00.000Z" },
    { zone: "Australia/Sydney", wall: "2025-10-05T02:59", pick: "latest", instant: "2025-10-04T16:00:00.000Z" },
    { zone: "Asia/Kolkata", wall: "2025-01-01T00:00", pick: "earliest", instant: "2024-12-31T18:30:00.000Z" },
    // Lord Howe Island changes by 30 minutes.
    { zone: "Australia/Lord_Howe", wall: "2025-10-05T02:15", pick: "earliest", instant: "2025-10-04T15:30:00.000Z" },
  ];

  it.each(rows)("$zone $wall ($pick) is $instant", ({ zone, wall, pick, instant }) => {
    expect(new Date(wallToInstant(zone, t(`${wall}:00Z`), pick)).toISOString()).toBe(instant);
  });

  it("offsets and local dates", () => {
    expect(zoneOffsetMs("Europe/Berlin", t("2025-01-15T12:00:00Z"))).toBe(H);
    expect(zoneOffsetMs("Europe/Berlin", t("2025-07-15T12:00:00Z"))).toBe(2 * H);
    expect(zoneOffsetMs("Asia/Kolkata", t("2025-07-15T12:00:00Z"))).toBe(5.5 * H);
    expect(localDate("Australia/Sydney", t("2025-06-10T15:00:00Z"))).toBe("2025-06-11");
    expect(localDate("America/New_York", t("2025-06-10T03:00:00Z"))).toBe("2025-06-09");
  });
});
