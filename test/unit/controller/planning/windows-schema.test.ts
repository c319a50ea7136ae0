/**
 * The formats operators write (shared/windows.ts): preferences, machines,
 * wave specs — defaults, and every refusal naming what is wrong.
 */
import { describe, expect, it } from "vitest";
import { MaintenancePreferenceSchema, MaintenancePreferencesSchema, PlanMachineSchema, WaveSpecSchema, isValidTimeZone, noticeMs }
  from "../../../../shared/windows.js";

const messages = (result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  result.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];

describe("maintenance preferences", () => {
  it("accepts the issue's example and fills defaults", () => {
    const pref = MaintenancePreferenceSchema.parse({
      group: "acme", timezone: "Europe/Berlin", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }],
      blackouts: ["2025-12-24", { from: "2025-12-27", to: "2026-01-02" }], notice: "48h",
    });
    expect(noticeMs(pref)).toBe(48 * 3_600_000);
    expect(MaintenancePreferenceSchema.parse({ group: "b", timezone: "UTC" })).toEqual({ group: "b", timezone: "UTC", windows: [], blackouts: [], notice: "0s" });
  });

  it.each([
    [{ timezone: "Europe/Berlinn" }, "timezone: unknown time zone"],
    [{ windows: [{ days: ["tue"], start: "2:00", end: "05:00" }] }, "windows.0.start: expected a time of day HH:MM"],
    [{ windows: [{ days: ["tue"], start: "02:00", end: "24:00" }] }, "windows.0.end: expected a time of day HH:MM"],
    [{ windows: [{ days: ["tuesday"], start: "02:00", end: "05:00" }] }, "windows.0.days.0"],
    [{ windows: [{ days: ["tue", "tue"], start: "02:00", end: "05:00" }] }, "windows.0.days: a day is listed twice"],
    [{ windows: [{ days: [], start: "02:00", end: "05:00" }] }, "windows.0.days"],
    [{ blackouts: ["2025-02-30"] }, "blackouts.0"],
    [{ blackouts: [{ from: "2025-12-31", to: "2025-12-01" }] }, "blackouts.0"],
    [{ notice: "two days" }, "notice: notice: expected a duration"],
    [{ noticePeriod: "2d" }, "noticePeriod"],
  ])("refuses %j", (change, message) => {
    const result = MaintenancePreferenceSchema.safeParse({ group: "g", timezone: "UTC", ...change });
    expect(result.success).toBe(false);
    expect(messages(result).join("\n")).toContain(message);
  });

  it("one preference per group", () => {
    const result = MaintenancePreferencesSchema.safeParse([{ group: "a", timezone: "UTC" }, { group: "a", timezone: "UTC" }]);
    expect(messages(result)).toEqual(["1.group: group a has two preferences"]);
  });

  it("knows zones through Intl", () => {
    expect(isValidTimeZone("Asia/Kolkata")).toBe(true);
    expect(isValidTimeZone("UTC")).toBe(true);
    expect(isValidTimeZone("Nowhere/Special")).toBe(false);
  });
});

describe("machines", () => {
  it("merges haGroup into haGroups and fills defaults", () => {
    const m = PlanMachineSchema.parse({ id: "v1", kind: "vm", name: "web1", host: "hv1", group: "g", haGroup: "web", haGroups: ["dns"], estimatedMinutes: 20 });
    expect(m).toEqual({ id: "v1", kind: "vm", name: "web1", host: "hv1", group: "g", roles: [], tested: false, haGroups: ["dns", "web"], estimatedMinutes: 20 });
  });

  it("a host is its own host; a duration is positive", () => {
    expect(messages(PlanMachineSchema.safeParse({ id: "h1", kind: "host", name: "h1", host: "h2", group: "g", estimatedMinutes: 5 })))
      .toEqual(["host: a host's host is its own id"]);
    expect(PlanMachineSchema.safeParse({ id: "v", kind: "vm", name: "v", host: "h", group: "g", estimatedMinutes: 0 }).success).toBe(false);
  });
});

describe("wave specs", () => {
  it("defaults", () => {
    const spec = WaveSpecSchema.parse({ waves: [{ name: "all", start: "mon 00:00", end: "week 2 mon 00:00", select: [{}] }] });
    expect(spec).toMatchObject({ name: "plan", timezone: "UTC", maxParallel: 10, maxParallelPerHost: 2, hostsAfterVms: true });
  });

  it.each([
    ["start: someday", { waves: [{ name: "a", start: "someday", end: "tue 00:00", select: [{}] }] }, "waves.0.start"],
    ["an ISO time without offset", { waves: [{ name: "a", start: "2025-03-03T06:00:00", end: "tue 00:00", select: [{}] }] }, "waves.0.start"],
    ["week 0", { waves: [{ name: "a", start: "week 0 mon 00:00", end: "tue 00:00", select: [{}] }] }, "waves.0.start"],
    ["percent over 100", { waves: [{ name: "a", start: "mon 00:00", end: "tue 00:00", select: [{ percent: 120 }] }] }, "waves.0.select.0.percent"],
    ["a wave name twice", { waves: [{ name: "a", start: "mon 00:00", select: [{}] }, { name: "a", start: "tue 00:00", end: "wed 00:00", select: [{}] }] }, "waves.1.name: wave name a is used twice"],
    ["a bad failure budget", { waves: [{ name: "a", start: "mon 00:00", end: "tue 00:00", failureBudget: "many", select: [{}] }] }, "waves.0.failureBudget"],
  ])("refuses %s", (_what, input, message) => {
    const result = WaveSpecSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(messages(result).join("\n")).toContain(message);
  });

  it("accepts absolute times with an offset and week numbers", () => {
    expect(WaveSpecSchema.safeParse({ waves: [{ name: "a", start: "2025-03-03T06:00:00+01:00", end: "week 12 SUN 23:59", select: [{}] }] }).success).toBe(true);
  });
});
