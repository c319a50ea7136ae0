/**
 * The one/few/many example over a generated fleet of 40 hosts and 200 VMs in
 * 12 groups, checked rule by rule without the planner's own indexes: one slot
 * per machine, inside its group's windows and notice, limits, anti-affinity,
 * wave order and membership, hypervisors after their VMs; and the cross-check
 * catching machines left out.
 */
import { readPlanExample } from "../../../helpers/plan-example.js";
import { beforeAll, describe, expect, it } from "vitest";
import { noticeMs, parseWaveSpec, type PlanMachine, type WaveSpec } from "../../../../shared/windows.js";
import { buildWavePlan, crossCheck, type Plan, type PlanSlot } from "../../../../controller/planning/waves.js";
import { windowOccurrences } from "../../../../controller/planning/time-windows.js";
import { generateFleet, type Fleet } from "../../../helpers/fleet.js";

const NOW = Date.parse("2025-03-21T12:00:00Z"); // Friday before the plan's first week
const START = Date.parse("2025-03-24T08:00:00Z"); // Monday: week 1 (Berlin moves to summer time on its Sunday)

let fleet: Fleet;
let spec: WaveSpec;
let plan: Plan;
let slots: PlanSlot[];
let byMachine: Map<string, PlanSlot[]>;
let machines: Map<string, PlanMachine>;

/** The largest number of intervals in progress at one instant. */
function peak(intervals: { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [[i.start, 1], [i.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0, max = 0;
  for (const [, delta] of points) max = Math.max(max, (now += delta));
  return max;
}

const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;

beforeAll(() => {
  fleet = generateFleet({ vms: 200, hosts: 40, groups: 12, seed: 7 });
  spec = parseWaveSpec(readPlanExample().spec);
  plan = buildWavePlan(spec, fleet.machines, { preferences: fleet.preferences, now: NOW, start: START });
  slots = plan.waves.flatMap((w) => w.slots);
  byMachine = new Map();
  for (const s of slots) byMachine.set(s.machineId, [...(byMachine.get(s.machineId) ?? []), s]);
  machines = new Map(fleet.machines.map((m) => [m.id, m]));
});

describe("a plan for 40 hosts and 200 VMs in 12 groups", () => {
  it("the fleet is what it says: zones, windows, HA pairs, roles", () => {
    expect(fleet.machines.filter((m) => m.kind === "host")).toHaveLength(40);
    expect(fleet.machines.filter((m) => m.kind === "vm")).toHaveLength(200);
    expect(new Set(fleet.machines.map((m) => m.group)).size).toBe(12);
    expect(new Set(fleet.preferences.map((p) => p.timezone)).size).toBeGreaterThanOrEqual(5);
    expect(fleet.preferences.some((p) => p.blackouts.length > 0)).toBe(true);
    expect(fleet.preferences.some((p) => p.windows.some((w) => w.end <= w.start))).toBe(true);
    for (const role of ["infrastructure", "router", "storage", "test", "production", "hypervisor"]) {
      expect(fleet.machines.some((m) => m.roles.includes(role)), role).toBe(true);
    }
    const ha = new Map<string, number>();
    for (const m of fleet.machines) for (const g of m.haGroups) ha.set(g, (ha.get(g) ?? 0) + 1);
    expect([...ha.values()].filter((n) => n >= 2).length).toBeGreaterThan(5);
    expect(fleet.machines.some((m) => m.tested) && fleet.machines.some((m) => !m.tested)).toBe(true);
  });

  it("every machine has exactly one slot, and the cross-check agrees", () => {
    expect(plan.unplaced).toEqual([]);
    for (const m of fleet.machines) expect(byMachine.get(m.id)?.length, m.id).toBe(1);
    expect(slots).toHaveLength(fleet.machines.length);
    expect(crossCheck(plan, fleet.machines)).toEqual([]);
  });

  it("every slot lies inside one open window of its group, after the group's notice", () => {
    const prefs = new Map(fleet.preferences.map((p) => [p.group, p]));
    const until = plan.waves[plan.waves.length - 1]!.end;
    for (const s of slots) {
      const pref = prefs.get(s.group)!;
      const open = windowOccurrences(pref, NOW, until);
      expect(open.some((o) => o.start <= s.start && s.end <= o.end), `${s.machineId} ${new Date(s.start).toISOString()}`).toBe(true);
      expect(s.start).toBeGreaterThanOrEqual(NOW + noticeMs(pref));
      expect(s.end - s.start).toBe(Math.ceil(machines.get(s.machineId)!.estimatedMinutes) * 60_000);
    }
  });

  it("never more than the global, per-wave and per-hypervisor limits at once", () => {
    expect(peak(slots)).toBeLessThanOrEqual(spec.maxParallel);
    for (const [i, wave] of plan.waves.entries()) {
      const limit = spec.waves[i]!.maxParallel;
      if (limit !== undefined) expect(peak(wave.slots), wave.name).toBeLessThanOrEqual(limit);
    }
    const perHost = new Map<string, PlanSlot[]>();
    for (const s of slots) if (s.kind === "vm") perHost.set(s.host, [...(perHost.get(s.host) ?? []), s]);
    for (const [hostId, list] of perHost) expect(peak(list), hostId).toBeLessThanOrEqual(spec.maxParallelPerHost);
    // The limits are reached somewhere, so these checks bite.
    expect(peak(slots)).toBe(spec.maxParallel);
    expect(Math.max(...[...perHost.values()].map(peak))).toBe(spec.maxParallelPerHost);
  });

  it("HA partners never overlap, nor a VM and its own hypervisor", () => {
    let pairs = 0;
    for (const a of slots) {
      for (const b of slots) {
        if (a.machineId >= b.machineId) continue;
        const ma = machines.get(a.machineId)!, mb = machines.get(b.machineId)!;
        if (ma.haGroups.some((g) => mb.haGroups.includes(g))) {
          pairs++;
          expect(overlap(a, b), `${a.machineId} ${b.machineId}`).toBe(false);
        }
        if ((ma.kind === "vm" && mb.id === ma.host) || (mb.kind === "vm" && ma.id === mb.host)) {
          expect(overlap(a, b), `${a.machineId} ${b.machineId}`).toBe(false);
        }
      }
    }
    expect(pairs).toBeGreaterThan(5);
  });

  it("waves run in order, each slot inside its wave", () => {
    for (const [i, wave] of plan.waves.entries()) {
      expect(wave.name).toBe(spec.waves[i]!.name);
      for (const s of wave.slots) {
        expect(s.start).toBeGreaterThanOrEqual(wave.start);
        expect(s.end).toBeLessThanOrEqual(wave.end);
      }
      const next = plan.waves[i + 1];
      if (next && wave.slots.length > 0 && next.slots.length > 0) {
        expect(Math.max(...wave.slots.map((s) => s.end))).toBeLessThanOrEqual(Math.min(...next.slots.map((s) => s.start)));
      }
    }
  });

  it("each wave takes the machines the spec says", () => {
    const inWave = (name: string) => plan.waves.find((w) => w.name === name)!.machineIds.map((id) => machines.get(id)!);
    const all = fleet.machines;
    const count = (list: PlanMachine[], f: (m: PlanMachine) => boolean) => list.filter(f).length;
    const has = (role: string) => (m: PlanMachine) => m.roles.includes(role);
    const pct = (p: number, n: number) => Math.ceil((p / 100) * n);

    expect(inWave("automation")).toHaveLength(count(all, has("infrastructure")));
    expect(count(inWave("one-of-each"), has("router"))).toBe(1);
    expect(count(inWave("one-of-each"), has("storage"))).toBe(1);
    const test = all.filter(has("test"));
    expect(count(inWave("test"), (m) => m.tested)).toBe(count(test, (m) => m.tested));
    expect(count(inWave("test"), (m) => !m.tested)).toBe(pct(20, count(test, (m) => !m.tested)));
    expect(count(inWave("few"), has("test"))).toBe(test.length - inWave("test").length);
    const production = all.filter(has("production"));
    expect(count(inWave("few"), has("production"))).toBe(pct(5, count(production, (m) => !m.tested)));
    expect(inWave("few").filter(has("production")).every((m) => !m.tested)).toBe(true);
    const storage = count(all, has("storage"));
    expect(count(inWave("few"), has("storage"))).toBe(pct(20, storage));
    expect(count(inWave("many"), has("production"))).toBe(pct(30, production.length));
    expect(count(inWave("many"), has("storage"))).toBe(pct(30, storage));
    expect(count(inWave("remainder"), has("production"))).toBe(production.length - pct(5, count(production, (m) => !m.tested)) - pct(30, production.length));
    expect(inWave("hypervisors")).toHaveLength(count(all, has("hypervisor")));
    expect(inWave("last-router").map((m) => m.roles)).toEqual([["router"]]);
    // The representative picks reach several customers.
    expect(new Set(inWave("many").map((m) => m.group)).size).toBeGreaterThanOrEqual(8);
  });

  it("every hypervisor starts after the last of its VMs has ended", () => {
    const hypervisors = fleet.machines.filter((m) => m.roles.includes("hypervisor"));
    let checked = 0;
    for (const hv of hypervisors) {
      const own = byMachine.get(hv.id)![0]!;
      for (const vm of fleet.machines.filter((m) => m.kind === "vm" && m.host === hv.id)) {
        expect(byMachine.get(vm.id)![0]!.end, `${vm.id} on ${hv.id}`).toBeLessThanOrEqual(own.start);
        checked++;
      }
    }
    expect(checked).toBe(200);
  });
});

describe("the cross-check catches machines left out", () => {
  it("a machine whose slot was removed from the plan", () => {
    const victim = slots.find((s) => s.kind === "vm")!;
    const cut: Plan = { ...plan, waves: plan.waves.map((w) => ({ ...w, slots: w.slots.filter((s) => s !== victim) })) };
    expect(crossCheck(cut, fleet.machines)).toEqual([
      { machineId: victim.machineId, name: victim.name, group: victim.group, problem: "no-slot", reason: null, detail: "not in the plan" },
    ]);
  });

  it("a machine in scope that was never given to the planner", () => {
    const missing = fleet.machines[57]!;
    const partial = buildWavePlan(spec, fleet.machines.filter((m) => m !== missing), { preferences: fleet.preferences, now: NOW, start: START });
    expect(crossCheck(partial, fleet.machines).map((e) => [e.machineId, e.reason])).toEqual([[missing.id, null]]);
  });

  it("a group without any window: its machines, and the hypervisors waiting for them", () => {
    const group = fleet.preferences.find((p) => p.group !== "ops" && fleet.machines.some((m) => m.group === p.group && m.kind === "vm"))!.group;
    const preferences = fleet.preferences.map((p) => (p.group === group ? { ...p, windows: [] } : p));
    const broken = buildWavePlan(spec, fleet.machines, { preferences, now: NOW, start: START });
    const report = crossCheck(broken, fleet.machines);
    const members = fleet.machines.filter((m) => m.group === group);
    const hosts = new Set(members.map((m) => m.host));
    expect(report.filter((e) => e.group === group).map((e) => e.machineId).sort()).toEqual(members.map((m) => m.id).sort());
    expect(report.filter((e) => e.group === group).every((e) => e.reason === "no-window")).toBe(true);
    expect(report.filter((e) => e.group !== group).map((e) => e.machineId).sort()).toEqual([...hosts].sort());
    expect(report.filter((e) => e.group !== group).every((e) => e.reason === "waits-for")).toBe(true);
  });
});
