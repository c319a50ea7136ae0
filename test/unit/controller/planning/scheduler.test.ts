/**
 * Slot assignment rules, one at a time on a small world, every unplaced reason,
 * and a random world checked against a minute-by-minute search for the
 * earliest start that satisfies every rule.
 */
import { describe, expect, it } from "vitest";
import { MaintenancePreferenceSchema, PlanMachineSchema, noticeMs, type MaintenancePreference,
  type MaintenancePreferenceInput, type PlanMachine, type PlanMachineInput } from "../../../../shared/windows.js";
import { SlotScheduler, scheduleSlots, type Booking, type SchedulerOptions, type Slot, type SlotRequest }
  from "../../../../controller/planning/scheduler.js";
import { windowOccurrences } from "../../../../controller/planning/time-windows.js";
import { random } from "../../../helpers/fleet.js";

const MIN = 60_000;
const H = 60 * MIN;
const DAY = 24 * H;
const MONDAY = Date.parse("2025-06-09T00:00:00Z");
const at = (day: number, hh: number, mm = 0) => MONDAY + day * DAY + hh * H + mm * MIN;

const pref = (group: string, input: Omit<MaintenancePreferenceInput, "group"> = {
  timezone: "UTC", windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "02:00", end: "05:00" }],
}) => MaintenancePreferenceSchema.parse({ group, ...input });

const vm = (id: string, extra: Partial<PlanMachineInput> = {}): PlanMachine => PlanMachineSchema.parse({
  id, kind: "vm", name: id, host: "h1", group: "g", estimatedMinutes: 60, ...extra,
});
const host = (id: string, extra: Partial<PlanMachineInput> = {}): PlanMachine => PlanMachineSchema.parse({
  id, kind: "host", name: id, host: id, group: "g", roles: ["hypervisor"], estimatedMinutes: 60, ...extra,
});
const req = (machine: PlanMachine, extra: Partial<SlotRequest> = {}): SlotRequest => ({ id: machine.id, machine, ...extra });

function options(extra: Partial<SchedulerOptions> = {}): SchedulerOptions {
  return { preferences: [pref("g")], now: MONDAY, until: MONDAY + 7 * DAY, maxParallel: 10, maxParallelPerHost: 10, ...extra };
}

const starts = (slots: Slot[]) => Object.fromEntries(slots.map((s) => [s.machineId, new Date(s.start).toISOString()]));

describe("slot assignment", () => {
  it("gives the earliest start inside a window, the whole duration in one occurrence", () => {
    const { slots, unplaced } = scheduleSlots([req(vm("a")), req(vm("b", { estimatedMinutes: 150 }))], options({ maxParallel: 1 }));
    expect(unplaced).toEqual([]);
    expect(starts(slots)).toEqual({ a: "2025-06-09T02:00:00.000Z", b: "2025-06-10T02:00:00.000Z" });
    expect(slots[1]!.end - slots[1]!.start).toBe(150 * MIN);
    expect(slots[1]!.window).toEqual({ start: at(1, 2), end: at(1, 5) });
  });

  it("rounds a duration up to whole minutes", () => {
    const { slots } = scheduleSlots([req(vm("a", { estimatedMinutes: 29.2 }))], options());
    expect(slots[0]!.end - slots[0]!.start).toBe(30 * MIN);
  });

  it("respects the global limit, and a request's own", () => {
    const machines = ["a", "b", "c"].map((id, i) => vm(id, { host: `h${i}` }));
    const { slots } = scheduleSlots(machines.map((m) => req(m)), options({ maxParallel: 2 }));
    expect(starts(slots)).toEqual({ a: "2025-06-09T02:00:00.000Z", b: "2025-06-09T02:00:00.000Z", c: "2025-06-09T03:00:00.000Z" });
    const own = scheduleSlots(machines.map((m) => req(m, { maxParallel: 1 })), options({ maxParallel: 10 }));
    expect(starts(own.slots)).toEqual({ a: "2025-06-09T02:00:00.000Z", b: "2025-06-09T03:00:00.000Z", c: "2025-06-09T04:00:00.000Z" });
  });

  it("respects the per-hypervisor limit", () => {
    const machines = ["a", "b", "c", "d"].map((id, i) => vm(id, { host: i < 3 ? "h1" : "h2" }));
    const { slots } = scheduleSlots(machines.map((m) => req(m)), options({ maxParallelPerHost: 2 }));
    expect(starts(slots)).toEqual({
      a: "2025-06-09T02:00:00.000Z", b: "2025-06-09T02:00:00.000Z", c: "2025-06-09T03:00:00.000Z", d: "2025-06-09T02:00:00.000Z",
    });
  });

  it("never overlaps two machines of one HA group, on any hosts", () => {
    const machines = [vm("db1", { host: "h1", haGroup: "db" }), vm("db2", { host: "h2", haGroups: ["db", "x"] }),
      vm("web", { host: "h3", haGroups: ["x"] }), vm("other", { host: "h4" })];
    const { slots } = scheduleSlots(machines.map((m) => req(m)), options());
    expect(starts(slots)).toEqual({
      db1: "2025-06-09T02:00:00.000Z", db2: "2025-06-09T03:00:00.000Z", web: "2025-06-09T02:00:00.000Z", other: "2025-06-09T02:00:00.000Z",
    });
  });

  it("never overlaps a VM and its own hypervisor; another host's VM may", () => {
    const machines = [host("h1"), vm("on-h1", { host: "h1" }), vm("on-h2", { host: "h2" })];
    const { slots } = scheduleSlots(machines.map((m) => req(m)), options());
    expect(starts(slots)).toEqual({
      "h1": "2025-06-09T02:00:00.000Z", "on-h1": "2025-06-09T03:00:00.000Z", "on-h2": "2025-06-09T02:00:00.000Z",
    });
  });

  it("starts a request after those it waits for", () => {
    const a = vm("a", { host: "h1" });
    const b = vm("b", { host: "h2", estimatedMinutes: 90 });
    const { slots } = scheduleSlots([req(a), req(b), req(host("h3"), { after: ["a", "b"] })], options());
    expect(starts(slots)).toEqual({ a: "2025-06-09T02:00:00.000Z", b: "2025-06-09T02:00:00.000Z", h3: "2025-06-09T03:30:00.000Z" });
  });

  it("keeps a slot inside its range (a wave)", () => {
    const { slots } = scheduleSlots([req(vm("a"), { notBefore: at(2, 3, 30), notAfter: at(4, 0) })], options());
    expect(starts(slots)).toEqual({ a: "2025-06-11T03:30:00.000Z" });
  });

  it("counts bookings that exist already", () => {
    const booking: Booking = { id: "old", machine: vm("db1", { haGroup: "db" }), start: at(0, 2), end: at(0, 4) };
    const { slots } = scheduleSlots([req(vm("db2", { host: "h2", haGroup: "db" }))], options(), [booking]);
    expect(starts(slots)).toEqual({ db2: "2025-06-09T04:00:00.000Z" });
  });

  it("places a group's windows in its own zone and waits out its notice", () => {
    const berlin = pref("g", { timezone: "Europe/Berlin", notice: "48h", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }] });
    const { slots } = scheduleSlots([req(vm("a"))], options({ preferences: [berlin], now: at(0, 10) }));
    expect(starts(slots)).toEqual({ a: "2025-06-12T00:00:00.000Z" });
  });

  it("refuses a request id twice and a horizon before now", () => {
    const scheduler = new SlotScheduler(options());
    scheduler.place(req(vm("a")));
    expect(() => scheduler.place(req(vm("a")))).toThrow(/used twice/);
    expect(() => new SlotScheduler(options({ until: MONDAY }))).toThrow(RangeError);
    expect(() => scheduler.place(req(vm("b"), { minutes: 0 }))).toThrow(/positive duration/);
  });
});

describe("reasons for requests without a slot", () => {
  const one = (request: SlotRequest, opts: Partial<SchedulerOptions> = {}, bookings: Booking[] = []) => {
    const { slots, unplaced } = scheduleSlots([request], options(opts), bookings);
    expect(slots).toEqual([]);
    expect(unplaced).toHaveLength(1);
    return unplaced[0]!;
  };

  it("no preference for the group", () => {
    expect(one(req(vm("a", { group: "nobody" })))).toMatchObject({ reason: "no-preference", machineId: "a", group: "nobody" });
  });

  it("no windows, or none before the horizon", () => {
    expect(one(req(vm("a")), { preferences: [pref("g", { timezone: "UTC", windows: [] })] }).reason).toBe("no-window");
    const sundays = pref("g", { timezone: "UTC", windows: [{ days: ["sun"], start: "02:00", end: "05:00" }] });
    const u = one(req(vm("a")), { preferences: [sundays], until: at(5, 0) });
    expect(u.reason).toBe("no-window");
    expect(u.detail).toContain("2025-06-14T00:00Z");
  });

  it("windows exist but none in the request's range", () => {
    const tuesdays = pref("g", { timezone: "UTC", windows: [{ days: ["tue"], start: "02:00", end: "05:00" }] });
    expect(one(req(vm("a"), { notBefore: at(2, 0), notAfter: at(4, 0) }), { preferences: [tuesdays] }).reason).toBe("outside-range");
  });

  it("a range over before assignment time", () => {
    const u = one(req(vm("a"), { notBefore: MONDAY - 2 * DAY, notAfter: MONDAY - DAY }));
    expect(u.reason).toBe("outside-range");
    expect(u.detail).toContain("its range ends before 2025-06-09T00:00Z");
  });

  it("blacked out", () => {
    const p = pref("g", { timezone: "Europe/Berlin", blackouts: [{ from: "2025-06-09", to: "2025-06-15" }],
      windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "02:00", end: "05:00" }] });
    const u = one(req(vm("a")), { preferences: [p] });
    expect(u.reason).toBe("blacked-out");
    expect(u.detail).toMatch(/7 windows closed or cut short by blackouts/);
  });

  it("longer than every window", () => {
    const u = one(req(vm("a", { estimatedMinutes: 240 })));
    expect(u.reason).toBe("too-long");
    expect(u.detail).toContain("shorter than 240 min");
  });

  it("the notice leaves no window before the horizon", () => {
    const p = pref("g", { timezone: "UTC", notice: "3d", windows: [{ days: ["mon", "tue"], start: "02:00", end: "05:00" }] });
    const u = one(req(vm("a")), { preferences: [p], until: at(3, 0) });
    expect(u.reason).toBe("notice");
    expect(u.detail).toContain("3d notice (nothing before 2025-06-12T00:00Z)");
  });

  it("waits for a request without a slot", () => {
    const { unplaced } = scheduleSlots([req(vm("a", { group: "nobody" })), req(host("h1"), { after: ["a"] })], options());
    expect(unplaced.map((u) => [u.machineId, u.reason])).toEqual([["a", "no-preference"], ["h1", "waits-for"]]);
    expect(unplaced[1]!.detail).toContain("a");
  });

  it("capacity: every window is full", () => {
    const bookings = [0, 1].map((day): Booking => ({ id: `b${day}`, machine: vm(`x${day}`, { host: "h9" }), start: at(day, 2), end: at(day, 5) }));
    const u = one(req(vm("a")), { maxParallel: 1, until: at(2, 0) }, bookings);
    expect(u.reason).toBe("capacity");
    expect(u.detail).toMatch(/2 windows full \(global limit 1\)/);
    const perHost = one(req(vm("a")), { maxParallelPerHost: 1, until: at(2, 0) },
      [0, 1].map((day): Booking => ({ id: `b${day}`, machine: vm(`x${day}`, { host: "h1" }), start: at(day, 2), end: at(day, 5) })));
    expect(perHost.reason).toBe("capacity");
    expect(perHost.detail).toContain("host h1 limit 1");
  });

  it("anti-affinity: its HA partner, its hypervisor", () => {
    const partner = (day: number): Booking => ({ id: `p${day}`, machine: vm(`db1-${day}`, { host: "h2", haGroup: "db" }), start: at(day, 2), end: at(day, 5) });
    const ha = one(req(vm("db2", { haGroup: "db" })), { until: at(2, 0) }, [partner(0), partner(1)]);
    expect(ha.reason).toBe("anti-affinity");
    expect(ha.detail).toContain("HA group db");
    const hv = (day: number): Booking => ({ id: `hv${day}`, machine: host("h1"), start: at(day, 2), end: at(day, 5) });
    const own = one(req(vm("a", { host: "h1" })), { until: at(2, 0) }, [hv(0), hv(1)]);
    expect(own.reason).toBe("anti-affinity");
    expect(own.detail).toContain("its hypervisor h1");
  });

  it("names the furthest stage reached and counts the others", () => {
    // Monday and Tuesday: notice; Wednesday: blacked out; Thursday: full. Capacity is the furthest.
    const p = pref("g", { timezone: "UTC", notice: "36h", blackouts: ["2025-06-11"],
      windows: [{ days: ["mon", "tue", "wed", "thu"], start: "02:00", end: "05:00" }] });
    const u = one(req(vm("a")), { preferences: [p], maxParallel: 1, until: at(5, 0) },
      [{ id: "full", machine: vm("x", { host: "h9" }), start: at(3, 2), end: at(3, 5) }]);
    expect(u.reason).toBe("capacity");
    expect(u.detail).toMatch(/1 window closed or cut short by blackouts/);
    expect(u.detail).toMatch(/2 windows too early for the 36h notice \(nothing before 2025-06-10T12:00Z\)/);
    expect(u.detail).toMatch(/1 window full/);
  });
});

/**
 * A plain re-statement of the rules: given what is placed, is [s, s + d) allowed
 * for this request? Checked minute by minute, no indexes.
 */
const windows = new Map<string, { start: number; end: number }[]>();

function allowed(r: SlotRequest, s: number, d: number, placed: { r: SlotRequest; start: number; end: number }[],
  prefs: Map<string, MaintenancePreference>, opts: SchedulerOptions): boolean {
  const m = r.machine;
  const p = prefs.get(m.group);
  if (!p) return false;
  const e = s + d;
  if (s < opts.now + noticeMs(p) || e > opts.until) return false;
  if (r.notBefore !== undefined && s < r.notBefore) return false;
  if (r.notAfter !== undefined && e > r.notAfter) return false;
  let open = windows.get(m.group);
  if (!open) windows.set(m.group, open = windowOccurrences(p, opts.now, opts.until));
  if (!open.some((o) => o.start <= s && e <= o.end)) return false;
  for (const id of r.after ?? []) {
    const dep = placed.find((x) => x.r.id === id);
    if (!dep || dep.end > s) return false;
  }
  const overlapping = placed.filter((x) => x.start < e && x.end > s);
  for (let t = s; t < e; t += MIN) {
    const now = overlapping.filter((x) => x.start <= t && x.end > t);
    if (now.length >= (r.maxParallel ?? opts.maxParallel)) return false;
    if (m.kind === "vm" && now.filter((x) => x.r.machine.kind === "vm" && x.r.machine.host === m.host).length >= opts.maxParallelPerHost) return false;
  }
  for (const x of overlapping) {
    const o = x.r.machine;
    if (o.id === m.id) return false;
    if (o.haGroups.some((g) => m.haGroups.includes(g))) return false;
    if (m.kind === "vm" && o.kind === "host" && o.id === m.host) return false;
    if (m.kind === "host" && o.kind === "vm" && o.host === m.id) return false;
  }
  return true;
}

describe("against a minute-by-minute search", () => {
  it("every start is the earliest allowed, and a request without one has no allowed start", () => {
    const rnd = random(42);
    const zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];
    const prefs = new Map<string, MaintenancePreference>();
    for (let g = 0; g < 4; g++) {
      prefs.set(`g${g}`, pref(`g${g}`, {
        timezone: zones[g]!, notice: ["0s", "12h", "30h", "2h"][g]!, blackouts: g === 1 ? ["2025-06-10"] : [],
        windows: [{ days: [["mon", "wed"], ["mon", "tue", "wed"], ["tue", "thu"], ["mon", "thu"]][g]! as ("mon" | "tue" | "wed" | "thu")[], start: "01:00", end: g === 3 ? "01:40" : "03:30" }],
      }));
    }
    const opts = options({ preferences: prefs.values(), until: MONDAY + 4 * DAY, maxParallel: 3, maxParallelPerHost: 2 });
    const requests: SlotRequest[] = [];
    for (let i = 0; i < 60; i++) {
      const m = PlanMachineSchema.parse({
        id: `m${i}`, kind: i % 10 === 9 ? "host" : "vm", name: `m${i}`,
        host: i % 10 === 9 ? `m${i}` : `m${Math.floor(i / 10) * 10 + 9}`,
        group: i === 59 ? "nobody" : `g${Math.floor(rnd() * 4)}`,
        haGroups: i % 10 !== 9 && rnd() < 0.3 ? [`ha${Math.floor(rnd() * 3)}`] : [],
        estimatedMinutes: 10 + Math.floor(rnd() * 50),
      });
      const r: SlotRequest = { id: m.id, machine: m };
      if (rnd() < 0.2) { r.notBefore = MONDAY + Math.floor(rnd() * 2) * DAY; r.notAfter = r.notBefore + 2 * DAY; }
      if (m.kind === "host") r.after = requests.filter((x) => x.machine.host === m.id).map((x) => x.id);
      requests.push(r);
    }
    const { slots, unplaced } = scheduleSlots(requests, opts);
    expect(slots.length + unplaced.length).toBe(requests.length);
    expect(slots.length).toBeGreaterThan(20);
    expect(unplaced.length).toBeGreaterThan(0);
    const byId = new Map(slots.map((s) => [s.requestId, s]));
    const placed: { r: SlotRequest; start: number; end: number }[] = [];
    for (const r of requests) {
      const slot = byId.get(r.id);
      const d = Math.ceil(r.machine.estimatedMinutes) * MIN;
      let earliest: number | null = null;
      for (let s = opts.now; s + d <= opts.until; s += MIN) {
        if (allowed(r, s, d, placed, prefs, opts)) { earliest = s; break; }
      }
      expect(slot?.start ?? null, `${r.id}: ${unplaced.find((u) => u.requestId === r.id)?.detail}`).toBe(earliest);
      if (slot) placed.push({ r, start: slot.start, end: slot.end });
    }
  }, 60_000);
});
