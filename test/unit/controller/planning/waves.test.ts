/**
 * Wave specs: time ranges (relative and absolute, across a DST change), which
 * wave takes which machine, hypervisors after their VMs, the cross-check, and
 * the one/few/many example file.
 */
import { readPlanExample } from "../../../helpers/plan-example.js";
import { describe, expect, it } from "vitest";
import { MaintenancePreferenceSchema, PlanMachineSchema, WaveSpecError, WaveSpecSchema, parseWaveSpec,
  type PlanMachine, type PlanMachineInput, type WaveSpecInput } from "../../../../shared/windows.js";
import { buildWavePlan, crossCheck, resolveWaveRanges, selectWaves, weekStartOf } from "../../../../controller/planning/waves.js";

const iso = (ms: number) => new Date(ms).toISOString();
const t = (text: string) => Date.parse(text);

const spec = (input: Partial<WaveSpecInput> & Pick<WaveSpecInput, "waves">) => WaveSpecSchema.parse({ timezone: "UTC", ...input });
const machine = (id: string, extra: Partial<PlanMachineInput> = {}): PlanMachine => PlanMachineSchema.parse({
  id, kind: "vm", name: id, host: "h1", group: "g", estimatedMinutes: 30, ...extra,
});
const everyNight = MaintenancePreferenceSchema.parse({
  group: "g", timezone: "UTC", windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "01:00", end: "05:00" }],
});

describe("wave time ranges", () => {
  it("relative times in the spec's zone, in the week holding the start, across a DST change", () => {
    const s = spec({ timezone: "Europe/Berlin", waves: [
      { name: "a", start: "mon 00:00", select: [{ role: "x" }] },
      { name: "b", start: "sun 12:00", select: [{ role: "x" }] },
      { name: "c", start: "week 2 tue 06:30", end: "2025-04-10T00:00:00+02:00", select: [{ role: "x" }] },
    ] });
    // Thursday 27 March 2025; Berlin moves to summer time on Sunday 30 March.
    const ranges = resolveWaveRanges(s, t("2025-03-27T15:00:00Z"));
    expect(ranges.map((r) => [r.name, iso(r.start), iso(r.end)])).toEqual([
      ["a", "2025-03-23T23:00:00.000Z", "2025-03-30T10:00:00.000Z"],
      ["b", "2025-03-30T10:00:00.000Z", "2025-04-01T04:30:00.000Z"],
      ["c", "2025-04-01T04:30:00.000Z", "2025-04-09T22:00:00.000Z"],
    ]);
  });

  it("the plan's week starts on the Monday in the spec's zone", () => {
    // Sunday 23:30 in UTC is already Monday in Sydney.
    expect(iso(weekStartOf("UTC", t("2025-06-15T23:30:00Z")))).toBe("2025-06-09T00:00:00.000Z");
    expect(iso(weekStartOf("Australia/Sydney", t("2025-06-15T23:30:00Z")))).toBe("2025-06-15T14:00:00.000Z");
  });

  it("refuses waves out of order, overlapping, or ending before they start", () => {
    const at = (waves: WaveSpecInput["waves"]) => () => resolveWaveRanges(spec({ waves }), t("2025-06-09T00:00:00Z"));
    expect(at([{ name: "a", start: "tue 00:00", select: [{}] }, { name: "b", start: "mon 00:00", end: "wed 00:00", select: [{}] }]))
      .toThrow(/wave a ends .* before it starts/);
    expect(at([{ name: "a", start: "mon 00:00", end: "wed 00:00", select: [{}] }, { name: "b", start: "tue 00:00", end: "thu 00:00", select: [{}] }]))
      .toThrow(/wave b starts .* before wave a ends/);
    expect(at([{ name: "a", start: "mon 00:00", end: "wed 00:00", select: [{}] }, { name: "b", start: "thu 00:00", end: "fri 00:00", select: [{}] }]))
      .not.toThrow();
  });
});

describe("wave selection", () => {
  const fleet = [
    ...Array.from({ length: 10 }, (_, i) => machine(`p${i}`, { roles: ["production"], tested: i < 4, group: `g${i % 3}`, host: `h${i % 4}` })),
    ...Array.from({ length: 3 }, (_, i) => machine(`s${i}`, { kind: "host", host: `s${i}`, roles: ["storage"] })),
    machine("r1", { kind: "host", host: "r1", roles: ["router"] }),
    machine("lonely", { roles: ["unknown"] }),
  ];

  it("first wave with a rule that takes the machine; counts and percentages of the rule's population, rounded up", () => {
    const s = spec({ waves: [
      { name: "one", start: "mon 00:00", select: [{ role: "production", tested: false, percent: 10 }, { role: "storage", count: 1 }] },
      { name: "some", start: "tue 00:00", select: [{ role: "production", percent: 30 }, { role: "storage", percent: 50 }] },
      { name: "rest", start: "wed 00:00", end: "thu 00:00", select: [{ role: "production" }, { kind: "host" }] },
    ] });
    const { waves, notSelected } = selectWaves(s, fleet);
    const ids = waves.map((w) => w.map((m) => m.id));
    // 10 % of 6 untested production VMs -> 1; 30 % of 10 production VMs -> 3; 50 % of 3 storage -> 2.
    expect(ids[0]).toHaveLength(2);
    expect(waves[0]!.filter((m) => m.roles.includes("production")).every((m) => !m.tested)).toBe(true);
    expect(waves[1]!.filter((m) => m.roles.includes("production"))).toHaveLength(3);
    expect(waves[1]!.filter((m) => m.roles.includes("storage"))).toHaveLength(2);
    expect(waves[2]!.filter((m) => m.roles.includes("production"))).toHaveLength(6);
    expect(waves[2]!.filter((m) => m.kind === "host").map((m) => m.id)).toEqual(["r1"]);
    expect(notSelected.map((m) => m.id)).toEqual(["lonely"]);
    const all = ids.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all.length + notSelected.length).toBe(fleet.length);
  });

  it("spreads counted picks across groups and hosts, and prefers machines that fit the wave", () => {
    const s = spec({ waves: [{ name: "w", start: "mon 00:00", end: "tue 00:00", select: [{ role: "production", count: 3 }] }] });
    expect(new Set(selectWaves(s, fleet).waves[0]!.map((m) => m.group))).toEqual(new Set(["g0", "g1", "g2"]));
    const onlyG1 = selectWaves(s, fleet, (m) => m.group === "g1").waves[0]!;
    expect(onlyG1.map((m) => m.group)).toEqual(["g1", "g1", "g1"]);
    expect(new Set(onlyG1.map((m) => m.host)).size).toBe(3);
  });
});

describe("plans", () => {
  const now = t("2025-06-09T00:00:00Z");

  it("puts a hypervisor after all of its VMs, and says so when a VM is in a later wave", () => {
    const machines = [
      machine("hv1", { kind: "host", host: "hv1", roles: ["hypervisor"], estimatedMinutes: 60 }),
      machine("hv2", { kind: "host", host: "hv2", roles: ["hypervisor"], estimatedMinutes: 60 }),
      machine("a", { host: "hv1", roles: ["production"], estimatedMinutes: 45 }),
      machine("b", { host: "hv1", roles: ["production"], estimatedMinutes: 45 }),
      machine("late", { host: "hv2", roles: ["late"] }),
    ];
    const s = spec({ maxParallelPerHost: 1, waves: [
      { name: "all", start: "mon 00:00", select: [{ role: "production" }, { role: "hypervisor" }] },
      { name: "later", start: "wed 00:00", end: "thu 00:00", select: [{ role: "late" }] },
    ] });
    const plan = buildWavePlan(s, machines, { preferences: [everyNight], now });
    const slots = new Map(plan.waves.flatMap((w) => w.slots).map((x) => [x.machineId, x]));
    expect(iso(slots.get("a")!.start)).toBe("2025-06-09T01:00:00.000Z");
    expect(iso(slots.get("b")!.start)).toBe("2025-06-09T01:45:00.000Z");
    expect(iso(slots.get("hv1")!.start)).toBe("2025-06-09T02:30:00.000Z");
    expect(plan.unplaced).toMatchObject([{ machineId: "hv2", reason: "waits-for", wave: "all" }]);
    expect(plan.unplaced[0]!.detail).toContain("late (later)");
    const relaxed = buildWavePlan({ ...s, hostsAfterVms: false }, machines, { preferences: [everyNight], now });
    expect(relaxed.unplaced).toEqual([]);
  });

  it("carries each wave's failure budget and limit, and applies the limit", () => {
    const machines = ["a", "b", "c"].map((id) => machine(id, { host: id, roles: ["x"] }));
    const s = spec({ waves: [{ name: "w", start: "mon 00:00", end: "tue 00:00", failureBudget: "10%", maxParallel: 1, select: [{ role: "x" }] }] });
    const plan = buildWavePlan(s, machines, { preferences: [everyNight], now });
    expect(plan.waves[0]).toMatchObject({ failureBudget: "10%", maxParallel: 1, machineIds: ["a", "b", "c"] });
    expect(plan.waves[0]!.slots.map((x) => iso(x.start))).toEqual(["2025-06-09T01:00:00.000Z", "2025-06-09T01:30:00.000Z", "2025-06-09T02:00:00.000Z"]);
  });

  it("refuses a machine listed twice and a plan that is over before it is made", () => {
    const s = spec({ waves: [{ name: "w", start: "mon 00:00", end: "tue 00:00", select: [{}] }] });
    expect(() => buildWavePlan(s, [machine("a"), machine("a")], { preferences: [everyNight], now })).toThrow(WaveSpecError);
    expect(() => buildWavePlan(s, [machine("a")], { preferences: [everyNight], now: t("2025-06-10T12:00:00Z"), start: now }))
      .toThrow(/before its assignment time/);
  });

  it("the cross-check lists in-scope machines with no slot or several, with the plan's reason when it has one", () => {
    const machines = [machine("a", { roles: ["x"] }), machine("b", { roles: ["x"], group: "nowhere" }), machine("c", { roles: ["y"] })];
    const s = spec({ waves: [{ name: "w", start: "mon 00:00", end: "tue 00:00", select: [{ role: "x" }] }] });
    const plan = buildWavePlan(s, machines, { preferences: [everyNight], now });
    const outsider = machine("d");
    expect(crossCheck(plan, [...machines, outsider]).map((e) => [e.machineId, e.problem, e.reason])).toEqual([
      ["b", "no-slot", "no-preference"], ["c", "no-slot", "not-selected"], ["d", "no-slot", null],
    ]);
    const doubled = { ...plan, waves: plan.waves.map((w) => ({ ...w, slots: [...w.slots, ...w.slots] })) };
    expect(crossCheck(doubled, machines.slice(0, 1))).toMatchObject([{ machineId: "a", problem: "several-slots" }]);
  });
});

describe("spec files", () => {
  it("the one/few/many example loads and mirrors the week in the issue", () => {
    const s = parseWaveSpec(readPlanExample().spec);
    expect(s.waves.map((w) => w.name)).toEqual(["automation", "one-of-each", "test", "few", "many", "remainder", "hypervisors", "last-router"]);
    expect(s.waves[1]!.select).toEqual([{ role: "router", count: 1 }, { role: "storage", count: 1 }]);
    expect(s.waves[3]!.select).toContainEqual({ role: "production", tested: false, percent: 5 });
    expect(s.waves[3]!.select).toContainEqual({ role: "storage", percent: 20 });
    expect(s.waves[4]!.select).toContainEqual({ role: "production", percent: 30 });
    expect(s.waves[7]!.select).toEqual([{ role: "router" }]);
    const ranges = resolveWaveRanges(s, t("2025-03-24T12:00:00Z"));
    expect(ranges.every((r, i) => i === 0 || ranges[i - 1]!.end <= r.start)).toBe(true);
  });

  it("names every problem with its path", () => {
    expect(() => parseWaveSpec({ timezone: "Mars/Olympus", waves: [
      { name: "a", start: "someday", select: [{ role: "x", count: 1, percent: 5 }] },
      { name: "a", start: "tue 00:00", select: [] },
    ] })).toThrow(/timezone: unknown time zone.*waves\.0\.start: expected "DAY HH:MM".*waves\.0\.select\.0: give count or percent, not both.*waves\.1\.select/);
    expect(() => parseWaveSpec({ waves: [{ name: "a", start: "mon 00:00", select: [{}] }] })).toThrow(/waves\.0\.end: the last wave needs an end/);
    expect(() => parseWaveSpec({ waves: [{ name: "a", start: "mon 00:00", end: "tue 00:00", select: [{ rolle: "x" }] }] })).toThrow(/rolle/);
  });
});
