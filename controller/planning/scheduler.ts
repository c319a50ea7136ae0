/**
 * Slot assignment. Anything disruptive (a VM in a run, a host reboot) asks for
 * a slot of its estimated length; the scheduler gives each request, in the
 * order asked, the earliest start at which all of this holds:
 *
 * - the whole slot lies inside one open occurrence of its group's windows
 *   (time-windows.ts: blackouts removed), at or after assignment time plus the
 *   group's notice, and inside the request's own range (a wave);
 * - at most `maxParallel` slots at once overall (or the request's own limit)
 *   and `maxParallelPerHost` VM slots at once on one hypervisor;
 * - no two slots of machines sharing an HA group overlap (VMs, or hosts such
 *   as a router pair), a VM and its own hypervisor never overlap, and one
 *   machine's slots never overlap;
 * - it starts after every request it waits for (`after`) has ended.
 *
 * A request that cannot be placed before the horizon comes back in `unplaced`
 * with the reason of the furthest any window got (see UNPLACED_REASONS) and a
 * detail that counts what stopped each window; nothing is dropped.
 *
 * Time is planned in whole minutes. Occupancy is indexed by minute
 * (occupancy.ts), so a request costs a few O(log n) look-ups per window tried.
 */
import { noticeMs, type MaintenancePreference, type PlanMachine } from "../../shared/windows.js";
import { CapacityTimeline, KeyedIntervals } from "./occupancy.js";
import { windowCalendar, type Interval, type WindowCalendar } from "./time-windows.js";

const MINUTE = 60_000;

/**
 * Why a request has no slot, from the least to the furthest a window got:
 * - `no-preference`: its group has no maintenance preference;
 * - `no-window`: its group has no window occurrence before the horizon;
 * - `outside-range`: there are some, but none inside the request's range (its wave);
 * - `blacked-out`: the windows in range are closed or cut short by blackouts;
 * - `too-long`: the estimated duration is longer than every window in range;
 * - `notice`: the windows long enough close too soon after assignment plus notice;
 * - `waits-for`: a request it must follow has no slot, or ends too late;
 * - `capacity`: the global or per-hypervisor limit is reached in every window that fits;
 * - `anti-affinity`: an HA partner, its hypervisor (or a hypervisor's VMs), or
 *   another slot of the same machine takes every window that fits;
 * - `not-selected` (waves only): no wave of the spec takes the machine.
 */
export const UNPLACED_REASONS = ["no-preference", "no-window", "outside-range", "blacked-out", "too-long", "notice",
  "waits-for", "capacity", "anti-affinity", "not-selected"] as const;
export type UnplacedReason = (typeof UNPLACED_REASONS)[number];

export interface SlotRequest {
  /** Unique among the requests and bookings of one scheduler. */
  id: string;
  machine: PlanMachine;
  /** Slot length; defaults to the machine's estimatedMinutes. Rounded up to whole minutes. */
  minutes?: number;
  /** The slot must lie within [notBefore, notAfter) (epoch ms), e.g. its wave. */
  notBefore?: number;
  notAfter?: number;
  /** Request or booking ids that must have ended before this slot starts; they must be placed first. */
  after?: readonly string[];
  /** This request's overall limit instead of the scheduler's maxParallel. */
  maxParallel?: number;
}

export interface Slot {
  requestId: string;
  machineId: string;
  name: string;
  kind: PlanMachine["kind"];
  host: string;
  group: string;
  /** Epoch ms, [start, end). */
  start: number;
  end: number;
  /** The open window occurrence (blackouts removed, clipped to [now, until)) the slot lies in. */
  window: Interval;
}

export interface Unplaced {
  requestId: string;
  machineId: string;
  name: string;
  group: string;
  reason: UnplacedReason;
  /** For the operator: what stopped each window, with times in UTC. */
  detail: string;
}

export type Placement = { placed: true; slot: Slot } | { placed: false; unplaced: Unplaced };

/** A slot that exists already (from an earlier plan or the store): it takes capacity and blocks its keys. */
export interface Booking {
  id: string;
  machine: Pick<PlanMachine, "id" | "kind" | "host" | "haGroups">;
  start: number;
  end: number;
}

export interface SchedulerOptions {
  preferences: Iterable<MaintenancePreference>;
  /** Assignment time (epoch ms): notice periods count from here; nothing starts before it. */
  now: number;
  /** The horizon (epoch ms, exclusive): nothing ends after it. */
  until: number;
  maxParallel: number;
  maxParallelPerHost: number;
}

export interface ScheduleResult {
  slots: Slot[];
  unplaced: Unplaced[];
}

/** Longest horizon the minute index accepts (a year and a bit). */
export const MAX_HORIZON_MS = 400 * 86_400_000;

/** "2025-03-04T01:00Z" */
export function isoMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16)}Z`;
}

interface GroupWindows {
  pref: MaintenancePreference;
  calendar: WindowCalendar;
  /** calendar.open in epoch minutes, for the search. */
  starts: number[];
  ends: number[];
}

type Blame = { reason: "capacity" | "anti-affinity"; what: string };

export class SlotScheduler {
  private readonly prefs = new Map<string, MaintenancePreference>();
  private readonly groups = new Map<string, GroupWindows>();
  private readonly base: number;
  private readonly last: number;
  private readonly capacity: CapacityTimeline;
  private readonly keys = new KeyedIntervals();
  /** End minute of every placed request and booking, by id. */
  private readonly ends = new Map<string, number>();
  private readonly ids = new Set<string>();

  constructor(private readonly options: SchedulerOptions) {
    if (!(options.until > options.now)) throw new RangeError("scheduler: until must be after now");
    if (options.until - options.now > MAX_HORIZON_MS) throw new RangeError("scheduler: horizon longer than 400 days");
    for (const pref of options.preferences) this.prefs.set(pref.group, pref);
    this.base = Math.ceil(options.now / MINUTE);
    this.last = Math.floor(options.until / MINUTE);
    this.capacity = new CapacityTimeline(this.last - this.base);
  }

  /** Records an existing slot: it counts against the limits and anti-affinity of everything placed after. */
  reserve(booking: Booking): void {
    this.claimId(booking.id);
    const start = Math.floor(booking.start / MINUTE);
    const end = Math.ceil(booking.end / MINUTE);
    this.book(booking.id, booking.machine, start, end);
  }

  /** Places one request (the earliest start that satisfies every rule) or says why it cannot be placed. */
  place(request: SlotRequest): Placement {
    this.claimId(request.id);
    const m = request.machine;
    const fail = (reason: UnplacedReason, detail: string): Placement =>
      ({ placed: false, unplaced: { requestId: request.id, machineId: m.id, name: m.name, group: m.group, reason, detail } });
    const gw = this.groupWindows(m.group);
    if (!gw) return fail("no-preference", `group ${m.group} has no maintenance preference`);
    if (gw.pref.windows.length === 0) return fail("no-window", `group ${m.group} has no maintenance windows`);

    const waiting = (request.after ?? []).filter((id) => !this.ends.has(id));
    if (waiting.length > 0) {
      return fail("waits-for", `must follow ${waiting.length} request(s) without a slot: ${sample(waiting)}`);
    }
    const minutes = request.minutes ?? m.estimatedMinutes;
    if (!(minutes > 0)) throw new RangeError(`scheduler: request ${request.id} needs a positive duration, not ${minutes}`);
    const dur = Math.ceil(minutes - 1e-9);
    const ctx = this.bounds(request, gw);
    const first = lowerBound(gw.ends, ctx.earliest + 1);
    const blames: Blame[] = [];
    for (let i = first; i < gw.starts.length && gw.starts[i]! < ctx.hi; i++) {
      const a = Math.max(gw.starts[i]!, ctx.earliest);
      const b = Math.min(gw.ends[i]!, ctx.hi);
      if (b - a < dur) continue;
      const found = this.search(request, a, b, dur);
      if (typeof found === "number") {
        this.book(request.id, m, found, found + dur);
        const occ = gw.calendar.open[i]!;
        return {
          placed: true,
          slot: {
            requestId: request.id, machineId: m.id, name: m.name, kind: m.kind, host: m.host, group: m.group,
            start: found * MINUTE, end: (found + dur) * MINUTE, window: { start: occ.start, end: occ.end },
          },
        };
      }
      blames.push(found);
    }
    const why = this.diagnose(request, gw, ctx, dur, blames);
    return fail(why.reason, why.detail);
  }

  /** Places requests in the order given. */
  placeAll(requests: Iterable<SlotRequest>): ScheduleResult {
    const result: ScheduleResult = { slots: [], unplaced: [] };
    for (const request of requests) {
      const placement = this.place(request);
      if (placement.placed) result.slots.push(placement.slot);
      else result.unplaced.push(placement.unplaced);
    }
    return result;
  }

  private claimId(id: string): void {
    if (this.ids.has(id)) throw new RangeError(`scheduler: request id ${id} used twice`);
    this.ids.add(id);
  }

  private groupWindows(group: string): GroupWindows | undefined {
    let gw = this.groups.get(group);
    if (!gw) {
      const pref = this.prefs.get(group);
      if (!pref) return undefined;
      const calendar = windowCalendar(pref, this.base * MINUTE, this.last * MINUTE);
      gw = {
        pref, calendar,
        starts: calendar.open.map((o) => Math.ceil(o.start / MINUTE)),
        ends: calendar.open.map((o) => Math.floor(o.end / MINUTE)),
      };
      this.groups.set(group, gw);
    }
    return gw;
  }

  /** The request's own range, the notice and its predecessors, in minutes. */
  private bounds(request: SlotRequest, gw: GroupWindows) {
    const lo = Math.max(this.base, Math.ceil((request.notBefore ?? -Infinity) / MINUTE));
    const hi = Math.min(this.last, Math.floor((request.notAfter ?? Infinity) / MINUTE));
    const notice = Math.ceil((this.options.now + noticeMs(gw.pref)) / MINUTE);
    let after = -Infinity;
    for (const id of request.after ?? []) after = Math.max(after, this.ends.get(id)!);
    return { lo, hi, notice, after, earliest: Math.max(lo, notice, after) };
  }

  /** The earliest start in [a, b - dur] free of every conflict, or what blocked the last try. */
  private search(request: SlotRequest, a: number, b: number, dur: number): number | Blame {
    const m = request.machine;
    const limit = request.maxParallel ?? this.options.maxParallel;
    const avoid = avoidKeys(m);
    let t = a;
    let blame: Blame = { reason: "capacity", what: "" };
    while (t + dur <= b) {
      let next = t;
      const full = this.capacity.firstAtLeast(t - this.base, t + dur - this.base, limit);
      if (full >= 0) {
        next = this.capacity.firstBelow(full, limit) + this.base;
        blame = { reason: "capacity", what: `global limit ${limit}` };
      }
      if (m.kind === "vm") {
        const hostFull = this.keys.firstFull(`vms:${m.host}`, t, t + dur, this.options.maxParallelPerHost);
        if (hostFull && hostFull.freeAt > next) {
          next = hostFull.freeAt;
          blame = { reason: "capacity", what: `host ${m.host} limit ${this.options.maxParallelPerHost}` };
        }
      }
      for (const [key, label] of avoid) {
        for (const hit of this.keys.overlapping(key, t, t + dur)) {
          if (hit.end > next) {
            next = hit.end;
            blame = { reason: "anti-affinity", what: `${label} (${hit.owner})` };
          }
        }
      }
      if (next === t) return t;
      t = next;
    }
    return blame;
  }

  private book(id: string, m: Booking["machine"], start: number, end: number): void {
    this.capacity.add(start - this.base, end - this.base);
    const interval = { start, end, owner: id };
    this.keys.add(`m:${m.id}`, interval);
    if (m.kind === "host") this.keys.add(`self:${m.id}`, interval);
    else this.keys.add(`vms:${m.host}`, interval);
    for (const g of m.haGroups) this.keys.add(`ha:${g}`, interval);
    this.ends.set(id, end);
  }

  private diagnose(request: SlotRequest, gw: GroupWindows, ctx: ReturnType<SlotScheduler["bounds"]>, dur: number,
    blames: Blame[]): { reason: UnplacedReason; detail: string } {
    const m = request.machine;
    const range = `between ${isoMinute(ctx.lo * MINUTE)} and ${isoMinute(ctx.hi * MINUTE)}`;
    if (ctx.hi <= ctx.lo) {
      return { reason: "outside-range", detail: `its range ends before ${isoMinute(ctx.lo * MINUTE)} (assignment time or its own start) or starts after the horizon` };
    }
    const { open, blackedOut } = gw.calendar;
    if (open.length === 0 && blackedOut.length === 0) {
      return { reason: "no-window", detail: `group ${m.group} has no window ${range}` };
    }
    const inRange = (o: Interval) => o.end > ctx.lo * MINUTE && o.start < ctx.hi * MINUTE;
    const openInRange = open.filter(inRange);
    const closedInRange = blackedOut.filter(inRange).filter((b) => !openInRange.some((o) => o.start < b.end && o.end > b.start));
    if (openInRange.length === 0 && closedInRange.length === 0) {
      return { reason: "outside-range", detail: `group ${m.group} has windows before the horizon, but none ${range}` };
    }
    const counts = new Map<UnplacedReason, number>();
    const count = (reason: UnplacedReason) => counts.set(reason, (counts.get(reason) ?? 0) + 1);
    for (let i = 0; i < closedInRange.length; i++) count("blacked-out");
    for (const occ of openInRange) {
      const s = Math.ceil(occ.start / MINUTE), e = Math.floor(occ.end / MINUTE);
      const hi = Math.min(e, ctx.hi);
      if (hi - Math.max(s, ctx.lo) < dur) count(occ.cut ? "blacked-out" : e - s >= dur ? "outside-range" : "too-long");
      else if (hi - Math.max(s, ctx.lo, ctx.notice) < dur) count("notice");
      else if (hi - Math.max(s, ctx.earliest) < dur) count("waits-for");
    }
    for (const blame of blames) count(blame.reason);
    const parts: string[] = [];
    const n = (reason: UnplacedReason) => counts.get(reason) ?? 0;
    const windows = (k: number) => `${k} window${k === 1 ? "" : "s"}`;
    if (n("outside-range")) parts.push(`${windows(n("outside-range"))} cut short by the range`);
    if (n("blacked-out")) parts.push(`${windows(n("blacked-out"))} closed or cut short by blackouts`);
    if (n("too-long")) parts.push(`${windows(n("too-long"))} shorter than ${dur} min`);
    if (n("notice")) parts.push(`${windows(n("notice"))} too early for the ${gw.pref.notice} notice (nothing before ${isoMinute(ctx.notice * MINUTE)})`);
    if (n("waits-for")) parts.push(`${windows(n("waits-for"))} too early: its predecessors end ${isoMinute(ctx.after * MINUTE)}`);
    const blamed = (reason: Blame["reason"]) => [...new Set(blames.filter((b) => b.reason === reason).map((b) => b.what))];
    if (n("capacity")) parts.push(`${windows(n("capacity"))} full (${sample(blamed("capacity"))})`);
    if (n("anti-affinity")) parts.push(`${windows(n("anti-affinity"))} taken by ${sample(blamed("anti-affinity"))}`);
    const order: UnplacedReason[] = ["outside-range", "blacked-out", "too-long", "notice", "waits-for"];
    let reason: UnplacedReason = order.filter((r) => n(r) > 0).pop() ?? "no-window";
    if (n("capacity") + n("anti-affinity") > 0) reason = n("anti-affinity") > n("capacity") ? "anti-affinity" : "capacity";
    return { reason, detail: `no ${dur} min slot ${range}: ${parts.join("; ")}` };
  }
}

/** Keys a machine's slot must not overlap, with how to name them in a reason. */
function avoidKeys(m: PlanMachine): [string, string][] {
  const keys: [string, string][] = [[`m:${m.id}`, `another slot of ${m.name}`]];
  if (m.kind === "host") keys.push([`vms:${m.id}`, `a VM of host ${m.name}`]);
  else keys.push([`self:${m.host}`, `its hypervisor ${m.host}`]);
  for (const g of m.haGroups) keys.push([`ha:${g}`, `HA group ${g}`]);
  return keys;
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sample(items: string[], max = 5): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

/** One-shot: a scheduler with `bookings` already in place, then `requests` in order. */
export function scheduleSlots(requests: Iterable<SlotRequest>, options: SchedulerOptions, bookings: Iterable<Booking> = []): ScheduleResult {
  const scheduler = new SlotScheduler(options);
  for (const booking of bookings) scheduler.reserve(booking);
  return scheduler.placeAll(requests);
}
