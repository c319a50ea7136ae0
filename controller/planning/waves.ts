/**
 * Plans from a WaveSpec (shared/windows.ts): each in-scope machine goes into
 * exactly one wave (the first wave, in order, with a rule that takes it), then
 * gets a slot inside its wave's time range and its group's windows through one
 * SlotScheduler, wave by wave, VMs before hypervisors. With `hostsAfterVms` a
 * hypervisor's slot starts after every slot of its VMs in the plan.
 *
 * Nothing is dropped: a machine without a slot is in `unplaced` with its
 * reason, and `crossCheck` lists every in-scope machine that has no slot (or
 * more than one) whatever the plan says about itself.
 */
import { WEEKDAYS, WAVE_TIME_PATTERN, WaveSpecError, noticeMs, type MaintenancePreference, type PlanMachine,
  type WaveSelect, type WaveSpec } from "../../shared/windows.js";
import { SlotScheduler, isoMinute, type Booking, type Slot, type SlotRequest, type Unplaced, type UnplacedReason } from "./scheduler.js";
import { localDate, wallToInstant, windowOccurrences } from "./time-windows.js";

const DAY = 86_400_000;
const MINUTE = 60_000;

export interface PlanOptions {
  preferences: Iterable<MaintenancePreference>;
  /** Assignment time (epoch ms): notice periods count from here, nothing starts before it. */
  now: number;
  /** Relative wave times ("tue 00:00") count from the week (Monday, spec's zone) holding this instant; default `now`. */
  start?: number;
  /** Override the spec's limits. */
  maxParallel?: number;
  maxParallelPerHost?: number;
  /** Slots that exist already (other plans, runs): they take capacity and block their keys. */
  bookings?: Iterable<Booking>;
}

export interface WaveRange {
  name: string;
  /** Epoch ms, [start, end). */
  start: number;
  end: number;
}

export interface PlanSlot extends Slot {
  wave: string;
}

export interface PlannedWave extends WaveRange {
  failureBudget: number | string | null;
  maxParallel: number | null;
  /** Every machine the wave took, in selection order, placed or not. */
  machineIds: string[];
  /** Sorted by start. */
  slots: PlanSlot[];
}

export interface PlanUnplaced extends Unplaced {
  /** The wave that took the machine; null when no wave did (`not-selected`). */
  wave: string | null;
}

export interface Plan {
  name: string;
  /** Assignment time. */
  createdAt: number;
  /** Monday 00:00 (spec's zone) of the plan's first week. */
  weekStart: number;
  waves: PlannedWave[];
  unplaced: PlanUnplaced[];
}

/** Monday 00:00 in `zone` of the week holding `instant`. */
export function weekStartOf(zone: string, instant: number): number {
  const day = Date.parse(`${localDate(zone, instant)}T00:00:00Z`) / DAY;
  const monday = day - ((new Date(day * DAY).getUTCDay() + 6) % 7);
  return wallToInstant(zone, monday * DAY, "earliest");
}

/** A wave time as an instant; relative ones in the spec's zone with the wall-clock rules of time-windows.ts. */
export function resolveWaveTime(text: string, zone: string, weekStart: number): number {
  const match = WAVE_TIME_PATTERN.exec(text.trim());
  if (!match) return Date.parse(text);
  const week = Number(match[1] ?? "1");
  const dayIndex = WEEKDAYS.indexOf(match[2]!.toLowerCase() as (typeof WEEKDAYS)[number]);
  const monday = Date.parse(`${localDate(zone, weekStart)}T00:00:00Z`);
  const wall = monday + ((week - 1) * 7 + dayIndex) * DAY + (Number(match[3]) * 60 + Number(match[4])) * MINUTE;
  return wallToInstant(zone, wall, "earliest");
}

/** Each wave's time range; throws WaveSpecError when they are out of order or overlap. */
export function resolveWaveRanges(spec: WaveSpec, start: number): WaveRange[] {
  const weekStart = weekStartOf(spec.timezone, start);
  const starts = spec.waves.map((w) => resolveWaveTime(w.start, spec.timezone, weekStart));
  const ranges = spec.waves.map((wave, i) => ({
    name: wave.name,
    start: starts[i]!,
    end: wave.end !== undefined ? resolveWaveTime(wave.end, spec.timezone, weekStart) : starts[i + 1]!,
  }));
  for (const [i, r] of ranges.entries()) {
    if (r.end <= r.start) throw new WaveSpecError(`wave ${r.name} ends (${isoMinute(r.end)}) before it starts (${isoMinute(r.start)})`);
    const next = ranges[i + 1];
    if (next && next.start < r.end) {
      throw new WaveSpecError(`wave ${next.name} starts (${isoMinute(next.start)}) before wave ${r.name} ends (${isoMinute(r.end)}): waves run one after another`);
    }
  }
  return ranges;
}

function matches(rule: WaveSelect, m: PlanMachine): boolean {
  return (rule.role === undefined || m.roles.includes(rule.role))
    && (rule.kind === undefined || m.kind === rule.kind)
    && (rule.tested === undefined || m.tested === rule.tested);
}

/** Interleaves the buckets of `key`, keeping each bucket's order: a, b, c, a, b, c, a, ... */
function spread<T>(items: T[], key: (item: T) => string): T[] {
  const lists = [...groupBy(items, key).values()];
  const out: T[] = [];
  for (let round = 0; out.length < items.length; round++) {
    for (const list of lists) if (round < list.length) out.push(list[round]!);
  }
  return out;
}

/** Machines spread over groups, and within a group over hosts: a representative pick. */
function representative(list: PlanMachine[]): PlanMachine[] {
  const byGroup = groupBy(list, (m) => m.group);
  return spread([...byGroup.values()].flatMap((members) => spread(members, (m) => m.host)), (m) => m.group);
}

/**
 * Which wave takes which machine (indexes into spec.waves), in selection order;
 * `fits(machine, wave)` says whether a machine could be placed in a wave at all,
 * and counted rules prefer those that can.
 */
export function selectWaves(spec: WaveSpec, machines: readonly PlanMachine[],
  fits: (m: PlanMachine, wave: number) => boolean = () => true): { waves: PlanMachine[][]; notSelected: PlanMachine[] } {
  const ordered = [...machines].sort((a, b) => cmp(a.group, b.group) || cmp(a.host, b.host) || cmp(a.name, b.name) || cmp(a.id, b.id));
  const taken = new Set<string>();
  const waves = spec.waves.map((wave, w) => {
    const chosen: PlanMachine[] = [];
    for (const rule of wave.select) {
      const population = ordered.filter((m) => matches(rule, m));
      const free = population.filter((m) => !taken.has(m.id));
      let picks = free;
      if (rule.count !== undefined || rule.percent !== undefined) {
        const n = rule.count ?? Math.ceil((rule.percent! / 100) * population.length - 1e-9);
        const good = free.filter((m) => fits(m, w));
        const rest = free.filter((m) => !fits(m, w));
        picks = [...representative(good), ...representative(rest)].slice(0, n);
      }
      for (const m of picks) taken.add(m.id);
      chosen.push(...picks);
    }
    return chosen;
  });
  return { waves, notSelected: ordered.filter((m) => !taken.has(m.id)) };
}

function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Builds the plan: waves, their slots, and every machine without a slot with its reason. */
export function buildWavePlan(spec: WaveSpec, machines: readonly PlanMachine[], options: PlanOptions): Plan {
  const ids = new Set<string>();
  for (const m of machines) {
    if (ids.has(m.id)) throw new WaveSpecError(`machine ${m.id} is listed twice`);
    ids.add(m.id);
  }
  const ranges = resolveWaveRanges(spec, options.start ?? options.now);
  const until = ranges[ranges.length - 1]!.end;
  if (until <= options.now) throw new WaveSpecError(`the plan's last wave ends (${isoMinute(until)}) before its assignment time`);
  const preferences = [...options.preferences];
  const prefs = new Map(preferences.map((p) => [p.group, p]));

  // Longest open window per group and wave, after notice: counted rules prefer machines that fit their wave.
  const longest = new Map<string, number>();
  const fits = (m: PlanMachine, w: number): boolean => {
    const key = `${m.group}\u0000${w}`;
    let length = longest.get(key);
    if (length === undefined) {
      const pref = prefs.get(m.group);
      const range = ranges[w]!;
      length = pref ? Math.max(0, ...windowOccurrences(pref, Math.max(range.start, options.now + noticeMs(pref)), range.end)
        .map((o) => o.end - o.start)) : 0;
      longest.set(key, length);
    }
    return length >= m.estimatedMinutes * MINUTE;
  };
  const selection = selectWaves(spec, machines, fits);

  const scheduler = new SlotScheduler({
    preferences, now: options.now, until,
    maxParallel: options.maxParallel ?? spec.maxParallel,
    maxParallelPerHost: options.maxParallelPerHost ?? spec.maxParallelPerHost,
  });
  for (const booking of options.bookings ?? []) scheduler.reserve(booking);

  const waveOf = new Map<string, number>();
  selection.waves.forEach((list, w) => list.forEach((m) => waveOf.set(m.id, w)));
  const vmsOfHost = groupBy(machines.filter((m) => m.kind === "vm" && waveOf.has(m.id)), (m) => m.host);

  const unplaced: PlanUnplaced[] = [];
  const waves: PlannedWave[] = ranges.map((range, w) => {
    const wave = spec.waves[w]!;
    const list = selection.waves[w]!;
    const slots: PlanSlot[] = [];
    const ordered = [...list.filter((m) => m.kind === "vm"), ...list.filter((m) => m.kind === "host")];
    for (const m of ordered) {
      const request: SlotRequest = { id: m.id, machine: m, notBefore: range.start, notAfter: range.end };
      if (wave.maxParallel !== undefined) request.maxParallel = wave.maxParallel;
      if (m.kind === "host" && spec.hostsAfterVms) {
        const vms = vmsOfHost.get(m.id) ?? [];
        const later = vms.filter((vm) => waveOf.get(vm.id)! > w);
        if (later.length > 0) {
          const names = later.slice(0, 5).map((vm) => `${vm.name} (${spec.waves[waveOf.get(vm.id)!]!.name})`).join(", ");
          unplaced.push({ requestId: m.id, machineId: m.id, name: m.name, group: m.group, wave: wave.name, reason: "waits-for",
            detail: `hypervisors go after their VMs, and ${later.length} of its VMs are in later waves: ${names}` });
          continue;
        }
        request.after = vms.map((vm) => vm.id);
      }
      const placement = scheduler.place(request);
      if (placement.placed) slots.push({ ...placement.slot, wave: wave.name });
      else unplaced.push({ ...placement.unplaced, wave: wave.name });
    }
    slots.sort((a, b) => a.start - b.start || cmp(a.machineId, b.machineId));
    return {
      ...range,
      failureBudget: wave.failureBudget ?? null,
      maxParallel: wave.maxParallel ?? null,
      machineIds: list.map((m) => m.id),
      slots,
    };
  });
  for (const m of selection.notSelected) {
    unplaced.push({ requestId: m.id, machineId: m.id, name: m.name, group: m.group, wave: null, reason: "not-selected",
      detail: `no wave of ${spec.name} selects it (roles: ${m.roles.join(", ") || "none"}, ${m.tested ? "tested" : "untested"} ${m.kind})` });
  }
  return { name: spec.name, createdAt: options.now, weekStart: weekStartOf(spec.timezone, options.start ?? options.now), waves, unplaced };
}

export interface CrossCheckEntry {
  machineId: string;
  name: string;
  group: string;
  /** `no-slot`: the machine has none; `several-slots`: it has more than one. */
  problem: "no-slot" | "several-slots";
  /** The plan's reason when it names one (null when the machine is not in the plan at all). */
  reason: UnplacedReason | null;
  detail: string;
}

/** Every in-scope machine without exactly one slot in the plan, in the order given. */
export function crossCheck(plan: Plan, inScope: Iterable<Pick<PlanMachine, "id" | "name" | "group">>): CrossCheckEntry[] {
  const slots = groupBy(plan.waves.flatMap((wave) => wave.slots), (slot) => slot.machineId);
  const unplaced = new Map(plan.unplaced.map((u) => [u.machineId, u]));
  const out: CrossCheckEntry[] = [];
  for (const m of inScope) {
    const own = slots.get(m.id) ?? [];
    if (own.length === 1) continue;
    if (own.length > 1) {
      out.push({ machineId: m.id, name: m.name, group: m.group, problem: "several-slots", reason: null,
        detail: `${own.length} slots: ${own.map((s) => `${s.wave} ${isoMinute(s.start)}`).join(", ")}` });
      continue;
    }
    const known = unplaced.get(m.id);
    out.push(known
      ? { machineId: m.id, name: m.name, group: m.group, problem: "no-slot", reason: known.reason,
        detail: known.wave ? `wave ${known.wave}: ${known.detail}` : known.detail }
      : { machineId: m.id, name: m.name, group: m.group, problem: "no-slot", reason: null, detail: "not in the plan" });
  }
  return out;
}
