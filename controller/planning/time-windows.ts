/**
 * A group's weekly windows as concrete UTC intervals, with Intl only (no time
 * zone library): the zone's offset at an instant comes from
 * Intl.DateTimeFormat, everything else is arithmetic on wall-clock times.
 *
 * Wall-clock rules (each is tested across zones in time-windows.test.ts):
 *
 * 1. An occurrence of a window `start`-`end` on local date D runs from the
 *    instant the zone's clock reads `start` on D to the instant it reads `end`
 *    (on D, or on D+1 when end <= start). Its length is real elapsed time, so a
 *    01:00-04:00 window lasts 2 h on the night clocks jump forward and 4 h on
 *    the night they fall back.
 * 2. Repeated wall-clock time (clocks fall back): a start takes the *first*
 *    instant with that reading, an end the *last*. A 02:00-03:00 window in
 *    Europe/Berlin on the last Sunday of October runs from the first 02:00
 *    (CEST) to 03:00 (CET): 2 h. The window is widened, never split.
 * 3. Skipped wall-clock time (clocks jump forward): a start or end inside the
 *    gap moves to the instant of the jump (the first instant after the gap).
 *    A window lying wholly inside the gap, such as 02:00-03:00 on the night
 *    Berlin jumps from 02:00 to 03:00, becomes empty and has no occurrence
 *    that night; 02:30-04:00 opens at the jump (03:00 CEST) and lasts 1 h.
 * 4. Blackout dates close every instant of that local day, from the first
 *    instant its clock reads 00:00 to the first instant the next day's does.
 *    An occurrence reaching into a blacked-out day is cut to what lies outside.
 * 5. Occurrences that overlap or touch (22:00-00:00 on Tue and 00:00-04:00 on
 *    Wed) are merged into one: a slot may span them.
 * 6. Notice: nothing before the time of assignment plus the group's notice is
 *    open; an occurrence that began earlier is cut to start there.
 *
 * All instants are epoch milliseconds; intervals are half-open [start, end).
 */
import { noticeMs, WEEKDAYS, type MaintenancePreference, type WeeklyWindow } from "../../shared/windows.js";

export interface Interval {
  start: number;
  end: number;
}

/** One open stretch of a group's windows. */
export interface WindowOccurrence extends Interval {
  /** The local date (YYYY-MM-DD, group's zone) on which it opens. */
  date: string;
  /** The index in the preference's `windows` of the window that opens it. */
  window: number;
  /** A blackout shortened it (or removed part of what was merged into it). */
  cut: boolean;
}

/** A preference's windows between two instants. */
export interface WindowCalendar {
  /** What is open: sorted, merged, blackouts removed, within [from, to). */
  open: WindowOccurrence[];
  /** Occurrences (as they would be without blackouts) that a blackout removed wholly or in part. */
  blackedOut: WindowOccurrence[];
}

const MINUTE = 60_000;
const DAY = 86_400_000;

interface ZoneClock {
  format: Intl.DateTimeFormat;
  /** Offsets by epoch minute: transitions fall on whole minutes, and planning asks about the same few instants often. */
  offsets: Map<number, number>;
}

const clocks = new Map<string, ZoneClock>();

function clockOf(zone: string): ZoneClock {
  let clock = clocks.get(zone);
  if (!clock) {
    clock = {
      format: new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23",
        year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
      }),
      offsets: new Map(),
    };
    clocks.set(zone, clock);
  }
  return clock;
}

/** The zone's UTC offset at an instant, in milliseconds (Europe/Berlin in summer: 7,200,000). */
export function zoneOffsetMs(zone: string, instant: number): number {
  const clock = clockOf(zone);
  const minute = Math.floor(instant / MINUTE);
  const known = clock.offsets.get(minute);
  if (known !== undefined) return known;
  const fields: Record<string, number> = {};
  for (const part of clock.format.formatToParts(minute * MINUTE)) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  const wall = Date.UTC(fields.year!, fields.month! - 1, fields.day!, fields.hour!, fields.minute!, fields.second!);
  const offset = wall - minute * MINUTE;
  if (clock.offsets.size > 200_000) clock.offsets.clear();
  clock.offsets.set(minute, offset);
  return offset;
}

/** The wall-clock reading at an instant, as if it were a UTC time (so Date's UTC getters read the local fields). */
export function wallClock(zone: string, instant: number): number {
  return instant + zoneOffsetMs(zone, instant);
}

/** The local calendar date (YYYY-MM-DD) at an instant. */
export function localDate(zone: string, instant: number): string {
  return new Date(wallClock(zone, instant)).toISOString().slice(0, 10);
}

/**
 * The instant at which the zone's clock reads `wall` (a wall-clock time given
 * as if it were UTC, e.g. Date.UTC(2025, 2, 30, 2, 30)). A repeated reading
 * gives its first (`earliest`) or last (`latest`) instant; a skipped reading
 * gives the instant of the jump.
 */
export function wallToInstant(zone: string, wall: number, pick: "earliest" | "latest"): number {
  const before = zoneOffsetMs(zone, wall - DAY);
  const after = zoneOffsetMs(zone, wall + DAY);
  const fits = (u: number) => u + zoneOffsetMs(zone, u) === wall;
  const candidates = [...new Set([wall - before, wall - after])].filter(fits).sort((a, b) => a - b);
  if (candidates.length > 0) return pick === "earliest" ? candidates[0]! : candidates[candidates.length - 1]!;
  if (after <= before) return wall - before; // two changes within two days: no real zone does this today
  // Inside a gap: the clock reads below `wall` before the jump and beyond it after; find the jump to the minute.
  let lo = wall - after;
  let hi = wall - before;
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (mid + zoneOffsetMs(zone, mid) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Day number (days since 1970-01-01) of a local date, and back. */
function dayOf(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY;
}

function dateOf(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}

function minutesOf(time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

/** The first instant of a local day (its clock reading 00:00, or the jump if 00:00 is skipped). */
export function startOfLocalDay(zone: string, date: string): number {
  return wallToInstant(zone, dayOf(date) * DAY, "earliest");
}

/** Blackouts as instants, sorted and merged, for those touching [from, to). */
export function blackoutIntervals(pref: Pick<MaintenancePreference, "timezone" | "blackouts">, from: number, to: number): Interval[] {
  const out: Interval[] = [];
  for (const blackout of pref.blackouts) {
    const [first, last] = typeof blackout === "string" ? [blackout, blackout] : [blackout.from, blackout.to];
    const start = startOfLocalDay(pref.timezone, first);
    const end = startOfLocalDay(pref.timezone, dateOf(dayOf(last) + 1));
    if (end > from && start < to) out.push({ start, end });
  }
  return mergeIntervals(out);
}

/** Sorted, with overlapping and touching intervals joined. */
export function mergeIntervals<T extends Interval>(intervals: T[], join: (into: T, next: T) => void = () => {}): T[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: T[] = [];
  for (const next of sorted) {
    const last = out[out.length - 1];
    if (last && next.start <= last.end) {
      if (next.end > last.end) last.end = next.end;
      join(last, next);
    } else {
      out.push({ ...next });
    }
  }
  return out;
}

function occurrence(zone: string, day: number, win: WeeklyWindow, index: number): WindowOccurrence | null {
  const startMin = minutesOf(win.start);
  const endMin = minutesOf(win.end);
  const start = wallToInstant(zone, day * DAY + startMin * MINUTE, "earliest");
  const endDay = endMin <= startMin ? day + 1 : day;
  const end = wallToInstant(zone, endDay * DAY + endMin * MINUTE, "latest");
  if (end <= start) return null; // wholly inside a skipped hour (rule 3)
  return { start, end, date: dateOf(day), window: index, cut: false };
}

function subtract(occ: WindowOccurrence, closed: Interval[]): WindowOccurrence[] {
  let pieces = [occ];
  for (const c of closed) {
    if (c.end <= occ.start || c.start >= occ.end) continue;
    pieces = pieces.flatMap((p) => {
      if (c.end <= p.start || c.start >= p.end) return [p];
      const parts: WindowOccurrence[] = [];
      if (c.start > p.start) parts.push({ ...p, end: c.start, cut: true });
      if (c.end < p.end) parts.push({ ...p, start: c.end, cut: true });
      return parts;
    });
  }
  return pieces;
}

/** Every occurrence of a preference's windows that touches [from, to), with blackouts applied (rules 1-5). */
export function windowCalendar(pref: Pick<MaintenancePreference, "timezone" | "windows" | "blackouts">, from: number, to: number): WindowCalendar {
  const zone = pref.timezone;
  if (to <= from || pref.windows.length === 0) return { open: [], blackedOut: [] };
  const closed = blackoutIntervals(pref, from - 2 * DAY, to + 2 * DAY);
  const firstDay = dayOf(localDate(zone, from)) - 1; // a window opened the day before may still run
  const lastDay = dayOf(localDate(zone, to));
  const open: WindowOccurrence[] = [];
  const blackedOut: WindowOccurrence[] = [];
  for (let day = firstDay; day <= lastDay; day++) {
    const weekday = WEEKDAYS[(new Date(day * DAY).getUTCDay() + 6) % 7]!;
    for (const [index, win] of pref.windows.entries()) {
      if (!win.days.includes(weekday)) continue;
      const occ = occurrence(zone, day, win, index);
      if (!occ || occ.end <= from || occ.start >= to) continue;
      const pieces = subtract(occ, closed);
      if (pieces.length !== 1 || pieces[0]!.cut) blackedOut.push(clip(occ, from, to));
      for (const piece of pieces) open.push(piece);
    }
  }
  const merged = mergeIntervals(open, (into, next) => { into.cut ||= next.cut; })
    .map((occ) => clip(occ, from, to))
    .filter((occ) => occ.end > occ.start);
  return { open: merged, blackedOut: blackedOut.sort((a, b) => a.start - b.start) };
}

function clip(occ: WindowOccurrence, from: number, to: number): WindowOccurrence {
  return { ...occ, start: Math.max(occ.start, from), end: Math.min(occ.end, to) };
}

/** What is open between two instants (rules 1-5). */
export function windowOccurrences(pref: Pick<MaintenancePreference, "timezone" | "windows" | "blackouts">, from: number, to: number): WindowOccurrence[] {
  return windowCalendar(pref, from, to).open;
}

/** What a slot assigned at `assignedAt` may use before `until`: the open windows from assignedAt + notice on (rule 6). */
export function availableWindows(pref: MaintenancePreference, assignedAt: number, until: number): WindowOccurrence[] {
  return windowOccurrences(pref, assignedAt + noticeMs(pref), until);
}
