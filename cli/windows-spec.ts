/**
 * A group's maintenance preference from `windows set`'s flags and/or a YAML
 * file (-f): --window "tue,thu 02:00-05:00", --blackout 2026-12-24 or
 * 2026-12-27..2027-01-02, --tz, --notice. Flags override the file key by key;
 * the result is checked with the API's schema before it is sent, every problem
 * named by its flag or FILE:LINE. Also the inverse: a preference in the same
 * words for tables.
 */
import { InvalidArgumentError } from "commander";
import { WindowsBodySchema, type WindowsBody } from "../shared/plans.js";
import { MaintenancePreferenceSchema, WEEKDAYS, type Blackout, type WeeklyWindow, type Weekday } from "../shared/windows.js";
import { checkConfigInput, schemaProblems } from "../shared/config.js";
import type { SpecProblem } from "../shared/config-issues.js";
import { readYamlMapping, type YamlFileKind, type YamlMapping } from "../shared/yaml-file.js";
import { UsageError } from "./errors.js";

const DAY_NAMES: Record<string, Weekday> = Object.fromEntries(WEEKDAYS.flatMap((day, i) => [
  [day, day], [["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][i]!, day],
]));

const WINDOW_HINT = 'expected DAYS HH:MM-HH:MM like "tue,thu 02:00-05:00", "mon-fri 22:00-04:00" or "daily 01:00-03:00" ' +
  "(days mon..sun; an end at or before the start closes on the next day)";

function parseDay(text: string): Weekday {
  const day = DAY_NAMES[text.toLowerCase()];
  if (!day) throw new InvalidArgumentError(`unknown day "${text}": days are ${WEEKDAYS.join(", ")}. ${WINDOW_HINT}`);
  return day;
}

/** "tue,thu", "mon-fri", "fri-mon" (wrapping), "daily": the days in week order from Monday. */
export function parseDays(text: string): Weekday[] {
  if (/^(daily|every ?day|\*)$/i.test(text)) return [...WEEKDAYS];
  const days = new Set<Weekday>();
  for (const part of text.split(",")) {
    const range = part.split("-");
    if (part === "" || range.length > 2) throw new InvalidArgumentError(`"${text}" is not a list of days. ${WINDOW_HINT}`);
    if (range.length === 1) {
      const day = parseDay(part);
      if (days.has(day)) throw new InvalidArgumentError(`${day} is given twice in "${text}"`);
      days.add(day);
      continue;
    }
    const from = WEEKDAYS.indexOf(parseDay(range[0]!));
    const to = WEEKDAYS.indexOf(parseDay(range[1]!));
    for (let i = from; ; i = (i + 1) % 7) {
      days.add(WEEKDAYS[i]!);
      if (i === to) break;
    }
  }
  return WEEKDAYS.filter((d) => days.has(d));
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** --window "tue,thu 02:00-05:00": the days the window opens on, and its wall-clock times in the group's zone. */
export function parseWindow(text: string): WeeklyWindow {
  const match = /^\s*(\S+)\s+(\S+?)\s*-\s*(\S+)\s*$/.exec(text);
  if (!match) throw new InvalidArgumentError(WINDOW_HINT);
  const [, days, start, end] = match as unknown as [string, string, string, string];
  for (const time of [start, end]) {
    if (!TIME.test(time)) throw new InvalidArgumentError(`"${time}" is not a time of day HH:MM (00:00 to 23:59). ${WINDOW_HINT}`);
  }
  return { days: parseDays(days), start, end };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function checkDate(text: string): string {
  const ms = Date.parse(`${text}T00:00:00Z`);
  if (!DATE.test(text) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) {
    throw new InvalidArgumentError(`"${text}" is not a date YYYY-MM-DD; a blackout is a date or FROM..TO, e.g. 2026-12-24 or 2026-12-27..2027-01-02`);
  }
  return text;
}

/** --blackout 2026-12-24 or 2026-12-27..2027-01-02 (inclusive, dates in the group's zone). */
export function parseBlackout(text: string): Blackout {
  const parts = text.trim().split("..");
  if (parts.length === 1) return checkDate(parts[0]!);
  if (parts.length !== 2) throw new InvalidArgumentError(`expected a date or FROM..TO, e.g. 2026-12-24 or 2026-12-27..2027-01-02`);
  const [from, to] = [checkDate(parts[0]!), checkDate(parts[1]!)];
  if (from > to) throw new InvalidArgumentError(`${from} is after ${to}: a range is FROM..TO`);
  return { from, to };
}

/** The inverse of parseWindow: "tue,thu 02:00-05:00", "mon-fri 22:00-04:00", "daily 00:00-00:00". */
export function formatWindow(win: Pick<WeeklyWindow, "days" | "start" | "end">): string {
  const indexes = [...new Set(win.days.map((d) => WEEKDAYS.indexOf(d)))].sort((a, b) => a - b);
  let days: string;
  if (indexes.length === 7) days = "daily";
  else if (indexes.length >= 3 && indexes[indexes.length - 1]! - indexes[0]! === indexes.length - 1) {
    days = `${WEEKDAYS[indexes[0]!]}-${WEEKDAYS[indexes[indexes.length - 1]!]}`;
  } else days = indexes.map((i) => WEEKDAYS[i]).join(",");
  return `${days} ${win.start}-${win.end}`;
}

export function formatBlackout(blackout: Blackout): string {
  return typeof blackout === "string" ? blackout : `${blackout.from}..${blackout.to}`;
}

/** `windows set`'s flags (commander's names). */
export interface WindowsFlags {
  tz?: string | undefined;
  window?: WeeklyWindow[] | undefined;
  blackout?: Blackout[] | undefined;
  notice?: string | undefined;
}

const FLAGS: readonly { flag: keyof WindowsFlags; option: string; key: string }[] = [
  { flag: "tz", option: "--tz", key: "timezone" },
  { flag: "window", option: "--window", key: "windows" },
  { flag: "blackout", option: "--blackout", key: "blackouts" },
  { flag: "notice", option: "--notice", key: "notice" },
];

export const WINDOWS_FILE: YamlFileKind = {
  code: "NS_ERR_WINDOWS_FILE",
  what: "windows file",
  expected: "a mapping with timezone, windows, blackouts and notice (see nightshift windows set --help)",
  error: (code, message) => new UsageError(code, message),
};

export function readWindowsFile(file: string, readStdin?: () => string): YamlMapping {
  return readYamlMapping(file, WINDOWS_FILE, readStdin);
}

// The body is checked without group:, which is a key of the file all the same.
const KNOWN_KEYS = { "": Object.keys(MaintenancePreferenceSchema.shape) };

const MISSING_HINTS = {
  timezone: "give --tz ZONE (an IANA name like Europe/Berlin) or timezone: ZONE in the file",
  "windows.days": "give days: [tue, thu]",
  "windows.start": 'give start: "02:00"',
  "windows.end": 'give end: "05:00"',
};

/**
 * The PUT /v1/windows/GROUP body from the flags and the file. A `group` key in
 * the file must name GROUP. Throws NS_ERR_WINDOWS_SPEC listing every problem.
 */
export function buildWindowsBody(group: string, flags: WindowsFlags, file: YamlMapping | null): WindowsBody {
  const problems = (input: Record<string, unknown>): SpecProblem[] => {
    const { group: named, ...body } = input;
    const found: SpecProblem[] = [];
    if ("group" in input && named !== group) {
      found.push({ path: ["group"], message: `names ${JSON.stringify(named)}, not the group given (${group}); remove it or make them the same` });
    }
    return [...found, ...schemaProblems(WindowsBodySchema, body, { knownKeys: KNOWN_KEYS, missingHints: MISSING_HINTS, customShowsValue: true })];
  };
  const { group: _named, ...body } = checkConfigInput({
    file,
    overrides: FLAGS.map(({ flag, option, key }) => ({ path: [key], value: flags[flag], flag: option })),
    flagNames: FLAGS.map(({ option, key }) => ({ path: [key], flag: option })),
    problems,
    topName: "windows",
    title: (s) => `invalid windows for group ${group}${s.file ? ` (file ${s.file}${s.flags ? " and flags" : ""})` : ""}, nothing was changed`,
    footer: "Flags and file keys: nightshift windows set --help",
    error: (message) => new UsageError("NS_ERR_WINDOWS_SPEC", message),
  });
  return body as WindowsBody;
}
