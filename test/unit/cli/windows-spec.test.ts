/** `windows set`: --window and --blackout parsing, their inverse for tables, and the body from flags and a file. */
import { describe, expect, it } from "vitest";
import { WindowsBodySchema } from "../../../shared/plans.js";
import { WEEKDAYS } from "../../../shared/windows.js";
import {
  buildWindowsBody, formatBlackout, formatWindow, parseBlackout, parseDays, parseWindow, readWindowsFile, WINDOWS_FILE,
} from "../../../cli/windows-spec.js";
import { parseYamlMapping } from "../../../shared/yaml-file.js";
import { problemLines, usageErrorOf } from "../../helpers/usage-error.js";

const file = (text: string, source = "acme.yaml") => parseYamlMapping(text, source, WINDOWS_FILE);

describe("--window", () => {
  it.each([
    ["tue,thu 02:00-05:00", { days: ["tue", "thu"], start: "02:00", end: "05:00" }],
    ["thu,tue 02:00-05:00", { days: ["tue", "thu"], start: "02:00", end: "05:00" }],
    ["Tue,THU 02:00 - 05:00", { days: ["tue", "thu"], start: "02:00", end: "05:00" }],
    ["mon-fri 22:00-04:00", { days: ["mon", "tue", "wed", "thu", "fri"], start: "22:00", end: "04:00" }],
    ["fri-mon 23:00-01:00", { days: ["mon", "fri", "sat", "sun"], start: "23:00", end: "01:00" }],
    ["daily 00:00-00:00", { days: [...WEEKDAYS], start: "00:00", end: "00:00" }],
    ["saturday 06:00-18:00", { days: ["sat"], start: "06:00", end: "18:00" }],
    ["sun,mon-tue 01:00-02:00", { days: ["mon", "tue", "sun"], start: "01:00", end: "02:00" }],
  ])("%s", (text, expected) => {
    const win = parseWindow(text);
    expect(win).toEqual(expected);
    expect(WindowsBodySchema.parse({ timezone: "UTC", windows: [win] }).windows).toEqual([expected]);
  });

  it.each([
    ["tue 2:00-05:00", /"2:00" is not a time of day HH:MM/],
    ["tue 02:00-24:00", /"24:00" is not a time of day/],
    ["tue,xyz 02:00-05:00", /unknown day "xyz": days are mon, tue, wed, thu, fri, sat, sun/],
    ["tue,tue 02:00-05:00", /tue is given twice/],
    ["tue,,thu 02:00-05:00", /is not a list of days/],
    ["mon-wed-fri 02:00-05:00", /is not a list of days/],
    ["02:00-05:00", /expected DAYS HH:MM-HH:MM like "tue,thu 02:00-05:00"/],
    ["tue 02:00", /expected DAYS HH:MM-HH:MM/],
    ["", /expected DAYS HH:MM-HH:MM/],
  ])("refuses %j", (text, message) => {
    expect(() => parseWindow(text)).toThrow(message);
  });

  it("formatWindow is parseWindow's inverse: ranges of three days or more, lists otherwise", () => {
    for (const text of ["tue,thu 02:00-05:00", "mon-fri 22:00-04:00", "daily 00:00-00:00", "sat,sun 06:00-18:00", "mon,wed-fri 01:00-02:00"]) {
      const formatted = formatWindow(parseWindow(text));
      expect(parseWindow(formatted)).toEqual(parseWindow(text));
    }
    expect(formatWindow(parseWindow("wed,tue,thu 01:00-02:00"))).toBe("tue-thu 01:00-02:00");
    expect(formatWindow(parseWindow("sat,sun 06:00-18:00"))).toBe("sat,sun 06:00-18:00");
    expect(formatWindow(parseWindow("mon,wed-fri 01:00-02:00"))).toBe("mon,wed,thu,fri 01:00-02:00");
    expect(parseDays("*")).toEqual([...WEEKDAYS]);
  });
});

describe("--blackout", () => {
  it("a date, or an inclusive FROM..TO range", () => {
    expect(parseBlackout("2026-12-24")).toBe("2026-12-24");
    expect(parseBlackout("2026-12-27..2027-01-02")).toEqual({ from: "2026-12-27", to: "2027-01-02" });
    expect(parseBlackout("2026-12-24..2026-12-24")).toEqual({ from: "2026-12-24", to: "2026-12-24" });
    for (const b of ["2026-12-24", { from: "2026-12-27", to: "2027-01-02" }] as const) {
      expect(parseBlackout(formatBlackout(b))).toEqual(b);
    }
  });

  it.each([
    ["2026-02-30", /"2026-02-30" is not a date YYYY-MM-DD/],
    ["24.12.2026", /is not a date YYYY-MM-DD; a blackout is a date or FROM..TO/],
    ["2027-01-02..2026-12-27", /2027-01-02 is after 2026-12-27: a range is FROM..TO/],
    ["2026-12-27..", /"" is not a date/],
    ["2026-12-01..2026-12-02..2026-12-03", /expected a date or FROM..TO/],
  ])("refuses %j", (text, message) => {
    expect(() => parseBlackout(text)).toThrow(message);
  });
});

describe("the body from flags and a file", () => {
  it("flags alone; unset ones stay unset so the API's defaults apply", () => {
    const body = buildWindowsBody("acme", { tz: "Europe/Berlin", window: [parseWindow("tue,thu 02:00-05:00")] }, null);
    expect(body).toEqual({ timezone: "Europe/Berlin", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }] });
    expect(WindowsBodySchema.parse(body)).toEqual({ ...body, blackouts: [], notice: "0s" });
  });

  it("a file, with flags overriding it key by key; a group key naming the same group is dropped", () => {
    const f = file('group: acme\ntimezone: Europe/Berlin\nwindows:\n  - { days: [tue], start: "02:00", end: "05:00" }\nnotice: 48h\n' +
      'blackouts: ["2026-12-24", { from: "2026-12-27", to: "2027-01-02" }]\n');
    expect(buildWindowsBody("acme", {}, f)).toEqual({
      timezone: "Europe/Berlin", windows: [{ days: ["tue"], start: "02:00", end: "05:00" }], notice: "48h",
      blackouts: ["2026-12-24", { from: "2026-12-27", to: "2027-01-02" }],
    });
    const overridden = buildWindowsBody("acme", { notice: "72h", blackout: [] }, f);
    expect(overridden.notice).toBe("72h");
    expect(overridden.blackouts).toEqual([]);
    expect(overridden.windows).toEqual([{ days: ["tue"], start: "02:00", end: "05:00" }]);
    expect(f.data.group).toBe("acme");
  });

  it("bad flags are named by their flag, with what is expected", () => {
    const err = usageErrorOf(() => buildWindowsBody("acme", { tz: "Mars/Olympus", notice: "two days" }, null));
    expect(err.code).toBe("NS_ERR_WINDOWS_SPEC");
    expect(err.message).toMatch(/^invalid windows for group acme, nothing was changed:\n/);
    expect(problemLines(err)).toEqual([
      '--tz: unknown time zone: expected an IANA name like Europe/Berlin, America/New_York or UTC, got "Mars/Olympus"',
      '--notice: expected a duration like 90s, 15m, 48h, 3d, got "two days"',
    ]);
  });

  it("no zone at all: named with its flag and its file key", () => {
    expect(problemLines(usageErrorOf(() => buildWindowsBody("acme", {}, null))))
      .toEqual(["timezone (--tz): missing: give --tz ZONE (an IANA name like Europe/Berlin) or timezone: ZONE in the file"]);
  });

  it("file problems name FILE:LINE and the key, in the file's order, after the flags'", () => {
    const text = [
      "group: other",                                           // 1
      "timezone: Europe/Berlin",                                // 2
      "windows:",                                               // 3
      '  - { days: [tue, tue], start: "2:00", end: "05:00" }',  // 4
      "  - { days: [fri], start: \"01:00\" }",                  // 5
      "blackout: []",                                           // 6
      "blackouts: [\"2026-13-01\", { from: \"2026-12-27\" }]",  // 7
      "notice: 48",                                             // 8
    ].join("\n") + "\n";
    const err = usageErrorOf(() => buildWindowsBody("acme", { tz: "Nowhere/Land" }, file(text)));
    expect(err.message).toMatch(/^invalid windows for group acme \(file acme\.yaml and flags\), nothing was changed:\n/);
    expect(problemLines(err)).toEqual([
      expect.stringMatching(/^--tz: unknown time zone/),
      'acme.yaml:1: group: names "other", not the group given (acme); remove it or make them the same',
      "acme.yaml:4: windows[0].days: a day is listed twice",
      'acme.yaml:4: windows[0].start: expected a time of day HH:MM (00:00 to 23:59), got "2:00"',
      "acme.yaml:5: windows[1].end: missing: give end: \"05:00\"",
      'acme.yaml:6: blackout: unknown key "blackout" (did you mean blackouts?); known keys: group, timezone, windows, blackouts, notice',
      'acme.yaml:7: blackouts[0]: expected a date YYYY-MM-DD, got "2026-13-01"',
      "acme.yaml:7: blackouts[1].to: missing",
      "acme.yaml:8: notice: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 48",
    ]);
  });

  it("a file that is not a mapping, or cannot be read, is NS_ERR_WINDOWS_FILE", () => {
    const notMapping = usageErrorOf(() => file("- tue\n"));
    expect(notMapping.code).toBe("NS_ERR_WINDOWS_FILE");
    expect(notMapping.message).toBe("acme.yaml: expected a mapping with timezone, windows, blackouts and notice " +
      "(see nightshift windows set --help), got a list");
    const missing = usageErrorOf(() => readWindowsFile("/nonexistent/acme.yaml"));
    expect(missing.message).toBe("cannot read windows file /nonexistent/acme.yaml: no such file");
    expect(readWindowsFile("-", () => "timezone: UTC\n").data).toEqual({ timezone: "UTC" });
  });
});
