/** Human output of plans, windows and machines: UTC ranges, the plan by wave and day, the cross-check, the tables. */
import { describe, expect, it } from "vitest";
import type { MachineRecord, PlanCheckRecord, PlanRecord, SlotRecord, WindowsRecord } from "../../../shared/plans.js";
import {
  checkSummary, checkText, endTime, planActionText, planText, slotsTable, utcDay, utcMinute, utcRange,
} from "../../../cli/plan-format.js";
import { blackoutsText, windowsSetText, windowsTable } from "../../../cli/windows.js";
import { buildMachineBody, machinesTable } from "../../../cli/machines.js";
import { UsageError } from "../../../cli/errors.js";
import { expectAligned } from "../../helpers/table-assert.js";

describe("UTC times", () => {
  it("minutes, ranges within a day and across midnight, days", () => {
    expect(utcMinute("2026-03-03T01:00:00.000Z")).toBe("2026-03-03 01:00");
    expect(utcMinute("2026-03-03T02:00:00+01:00")).toBe("2026-03-03 01:00");
    expect(utcRange("2026-03-03T01:00:00.000Z", "2026-03-03T04:00:00.000Z")).toBe("2026-03-03 01:00-04:00");
    expect(utcRange("2026-03-03T22:00:00.000Z", "2026-03-04T04:00:00.000Z")).toBe("2026-03-03 22:00-2026-03-04 04:00");
    expect(utcDay("2026-03-02T23:59:00.000Z")).toBe("Mon 2026-03-02");
    expect(utcDay("2026-03-08T00:00:00.000Z")).toBe("Sun 2026-03-08");
    expect(endTime("2026-03-02T23:30:00.000Z", "2026-03-03T00:30:00.000Z")).toBe("00:30+1d");
    expect(endTime("2026-03-02T01:00:00.000Z", "2026-03-02T01:30:00.000Z")).toBe("01:30");
    expect(endTime("2026-03-02T01:00:00.000Z", "2026-03-04T01:30:00.000Z")).toBe("01:30+2d");
    expect(utcMinute("not a time")).toBe("not a time");
  });
});

let nextId = 1;
function slot(wave: string, name: string, start: string, minutes: number, extra: Partial<SlotRecord> = {}): SlotRecord {
  const startMs = Date.parse(start);
  return {
    id: nextId++, wave, machineId: `hv1/${name}`, name, kind: "vm", host: "hv1", group: "acme",
    start: new Date(startMs).toISOString(), end: new Date(startMs + minutes * 60_000).toISOString(),
    state: "scheduled", runId: null, outcome: null, ...extra,
  };
}

const PLAN: PlanRecord = {
  id: "20260227-101500-a1b2", name: "one-few-many", state: "paused", pausedReason: "wave test: 1 VM needs attention",
  createdAt: "2026-02-27T10:15:00.123Z", weekStart: "2026-03-01T23:00:00.000Z",
  waves: [
    { name: "automation", start: "2026-03-01T23:00:00.000Z", end: "2026-03-02T23:00:00.000Z", state: "done", failureBudget: 1, slots: 2 },
    { name: "test", start: "2026-03-02T23:00:00.000Z", end: "2026-03-04T23:00:00.000Z", state: "blocked", failureBudget: "5%", slots: 3 },
    { name: "hypervisors", start: "2026-03-04T23:00:00.000Z", end: "2026-03-05T23:00:00.000Z", state: "waiting", failureBudget: null, slots: 0 },
  ],
  slots: [
    // Out of order on purpose: the output sorts by time within each wave.
    slot("test", "app2", "2026-03-04T01:00:00Z", 30),
    slot("automation", "mon1", "2026-03-02T01:00:00Z", 30, { state: "done", runId: "20260302-010000-beef", outcome: "succeeded" }),
    slot("test", "app1", "2026-03-03T23:30:00Z", 60, { state: "failed", runId: "20260303-233000-cafe", outcome: "needs-attention", group: "globex" }),
    slot("automation", "hv-mon", "2026-03-02T00:30:00Z", 45, { kind: "host", host: "hv-mon", machineId: "hv-mon", state: "done" }),
    slot("test", "app3", "2026-03-04T01:00:00Z", 30),
    slot("gone", "old1", "2026-03-06T01:00:00Z", 30),
  ],
  unplaced: [
    { machineId: "hv2/db9", name: "db9", group: "acme", wave: "test", reason: "notice", detail: "no 30 min slot in the wave: notice 48h" },
    { machineId: "hv2/x", name: "x", group: "acme", wave: null, reason: "not-selected", detail: "no wave selects it" },
  ],
};

describe("planText", () => {
  const text = planText(PLAN);
  const lines = text.split("\n");

  it("a header with the plan's state, why it is paused, its counts, and that times are UTC", () => {
    expect(lines[0]).toBe('Plan 20260227-101500-a1b2 "one-few-many": paused');
    expect(text).toContain("  week of   2026-03-01 23:00 UTC\n");
    expect(text).toContain("  created   2026-02-27T10:15:00Z\n");
    expect(text).toContain("  paused    wave test: 1 VM needs attention\n");
    expect(text).toContain("  slots     6 slots in 3 waves (");
    expect(text).toContain("  unplaced  2 machines without a slot (below)\n");
    expect(text).toContain("All times are UTC.\n");
    expect(planText({ ...PLAN, pausedReason: null })).not.toContain("paused    ");
  });

  it("one header line per wave in the plan's order, with its range, state, failure budget and slots per state", () => {
    const headers = lines.filter((l) => l.startsWith("Wave "));
    expect(headers).toEqual([
      "Wave 1/3 automation: 2026-03-01 23:00-2026-03-02 23:00 UTC, done, failure budget 1; 2 slots (2 done)",
      "Wave 2/3 test: 2026-03-02 23:00-2026-03-04 23:00 UTC, blocked, failure budget 5%; 3 slots (1 failed, 2 scheduled)",
      "Wave 3/3 hypervisors: 2026-03-04 23:00-2026-03-05 23:00 UTC, waiting; 0 slots",
    ]);
    expect(lines[lines.indexOf(headers[2]!) + 1]).toBe("  (no slots)");
  });

  it("each wave's slots by start time, the UTC day first; an end past midnight says so", () => {
    const test = lines.indexOf(lines.find((l) => l.startsWith("Wave 2/3"))!);
    expect(lines[test + 1]).toMatch(/^ {2}DAY\s+START\s+END\s+MACHINE\s+KIND\s+HOST\s+GROUP\s+STATE\s+RUN\s+OUTCOME$/);
    expect(lines[test + 2]).toMatch(/^ {2}Tue 2026-03-03\s+23:30\s+00:30\+1d\s+app1\s+vm\s+hv1\s+globex\s+failed\s+20260303-233000-cafe\s+needs-attention$/);
    expect(lines[test + 3]).toMatch(/^ {2}Wed 2026-03-04\s+01:00\s+01:30\s+app2\s+vm\s+hv1\s+acme\s+scheduled\s+-\s+-$/);
    expect(lines[test + 4]).toMatch(/^ {2}Wed 2026-03-04\s+01:00\s+01:30\s+app3\s/);
    const automation = lines.indexOf(lines.find((l) => l.startsWith("Wave 1/3"))!);
    expect(lines[automation + 2]).toMatch(/^ {2}Mon 2026-03-02\s+00:30\s+01:15\s+hv-mon\s+host\s+hv-mon\s+acme\s+done\s+-\s+-$/);
    expect(lines[automation + 3]).toMatch(/^ {2}Mon 2026-03-02\s+01:00\s+01:30\s+mon1\s+vm\s+hv1\s+acme\s+done\s+20260302-010000-beef\s+succeeded$/);
  });

  it("the columns of a wave's table line up", () => {
    const table = slotsTable(PLAN.slots.filter((s) => s.wave === "test"), "");
    for (const column of ["START", "END", "MACHINE", "KIND", "HOST", "GROUP", "STATE", "RUN", "OUTCOME"]) expectAligned(table, column);
  });

  it("slots of a wave the plan does not list come under Other slots; unplaced machines last, with reasons", () => {
    expect(text).toContain("Other slots (their wave is not in the plan's list):\n");
    expect(text).toMatch(/Other slots.*\n {2}DAY.*\n {2}Fri 2026-03-06\s+01:00\s+01:30\s+old1\s/);
    const unplaced = lines.indexOf('Unplaced (2): no slot for these machines; WAVE "(none)" means no wave selected it');
    expect(unplaced).toBeGreaterThan(lines.findIndex((l) => l.startsWith("Other slots")));
    expect(lines[unplaced + 1]).toMatch(/^ {2}MACHINE\s+GROUP\s+WAVE\s+REASON\s+DETAIL$/);
    expect(lines[unplaced + 2]).toMatch(/^ {2}db9\s+acme\s+test\s+notice\s+no 30 min slot in the wave: notice 48h$/);
    expect(lines[unplaced + 3]).toMatch(/^ {2}x\s+acme\s+\(none\)\s+not-selected\s+no wave selects it$/);
  });

  it("a dry run says nothing was stored; a complete plan has no unplaced section", () => {
    const dry = planText({ ...PLAN, id: "dry-run", state: "scheduled", pausedReason: null, unplaced: [] }, { dryRun: true });
    expect(dry.split("\n")[0]).toBe('Plan dry-run "one-few-many": scheduled (dry run: nothing was stored)');
    expect(dry).toContain("  unplaced  none\n");
    expect(dry).not.toContain("Unplaced (");
  });
});

describe("plan check and actions", () => {
  const records: PlanCheckRecord[] = [
    { machineId: "hv1/new1", name: "new1", group: "acme", problem: "no-slot", reason: null, detail: "registered after the plan was made" },
    { machineId: "hv1/db1", name: "db1", group: "acme", problem: "no-slot", reason: "notice", detail: "no slot: notice 48h" },
    { machineId: "hv1/twice", name: "twice", group: "globex", problem: "several-slots", reason: null, detail: "slots 3 and 9" },
  ];

  it("a table of the machines without exactly one slot, and a summary for the error", () => {
    const text = checkText(records);
    const [header, ...rows] = text.trimEnd().split("\n");
    expect(header).toMatch(/^MACHINE\s+GROUP\s+PROBLEM\s+REASON\s+DETAIL$/);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^db1\s+acme\s+no-slot\s+notice\s+no slot: notice 48h$/);
    expect(rows[1]).toMatch(/^new1\s+acme\s+no-slot\s+-\s+registered after the plan was made$/);
    expect(rows[2]).toMatch(/^twice\s+globex\s+several-slots\s+-\s+slots 3 and 9$/);
    for (const column of ["GROUP", "PROBLEM", "REASON", "DETAIL"]) expectAligned(text, column);
    expect(checkSummary(records)).toBe("3 machines in scope do not have exactly one slot (2 without a slot, 1 with several slots)");
    expect(checkSummary(records.slice(0, 1))).toBe("1 machine in scope does not have exactly one slot (1 without a slot)");
    expect(checkText([])).toBe("Every machine in scope has exactly one slot in the current plan.\n");
  });

  it("pause, resume and cancel say the new state and what it means", () => {
    expect(planActionText({ ...PLAN, state: "paused", pausedReason: "paused by the operator" }))
      .toBe('Plan 20260227-101500-a1b2 "one-few-many" is paused (paused by the operator): no new slot starts until ' +
        "nightshift plan resume (or nightshift plan cancel).\n");
    expect(planActionText({ ...PLAN, state: "running", pausedReason: null })).toMatch(/ is running: slots start as their times come\.\n$/);
    expect(planActionText({ ...PLAN, state: "cancelled", pausedReason: null })).toMatch(/ is cancelled: its slots that have not started will not start\.\n$/);
  });
});

describe("windows and machines tables", () => {
  const windows: WindowsRecord[] = [
    {
      group: "zeta", timezone: "UTC", windows: [], blackouts: [], notice: "0s", nextWindowStart: null, nextWindowEnd: null, machines: 0,
    },
    {
      group: "acme", timezone: "Europe/Berlin",
      windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }, { days: ["mon", "tue", "wed", "thu", "fri"], start: "22:00", end: "23:00" }],
      blackouts: ["2026-12-24", { from: "2026-12-27", to: "2027-01-02" }, "2027-04-03", "2027-04-05"], notice: "48h",
      nextWindowStart: "2026-03-03T01:00:00.000Z", nextWindowEnd: "2026-03-03T04:00:00.000Z", machines: 12,
    },
  ];

  it("windows: one row per group by name, windows as --window takes them, the next window in UTC", () => {
    const text = windowsTable(windows);
    const [header, acme, zeta] = text.trimEnd().split("\n");
    expect(header).toMatch(/^GROUP\s+TZ\s+WINDOWS\s+BLACKOUTS\s+NOTICE\s+MACHINES\s+NEXT WINDOW \(UTC\)$/);
    expect(acme).toBe(
      "acme   Europe/Berlin  tue,thu 02:00-05:00; mon-fri 22:00-23:00  2026-12-24, 2026-12-27..2027-01-02, 2027-04-03 (+1 more)  " +
      "48h     12        2026-03-03 01:00-04:00");
    expect(zeta).toMatch(/^zeta\s+UTC\s+none\s+-\s+0s\s+0\s+none$/);
    for (const column of ["TZ", "WINDOWS", "BLACKOUTS", "NOTICE", "MACHINES", "NEXT WINDOW (UTC)"]) expectAligned(text, column);
    expect(blackoutsText({ blackouts: ["2026-12-24"] })).toBe("2026-12-24");
  });

  it("windows set: the stored preference in the flags' words", () => {
    const text = windowsSetText(windows[1]!);
    expect(text).toBe([
      "Windows of group acme set (Europe/Berlin):",
      "  window    tue,thu 02:00-05:00",
      "  window    mon-fri 22:00-23:00",
      "  blackout  2026-12-24, 2026-12-27..2027-01-02, 2027-04-03, 2027-04-05",
      "  notice    48h",
      "  next      2026-03-03 01:00-04:00 UTC",
      "  machines  12 in the group (nightshift machines)",
    ].join("\n") + "\n");
    expect(windowsSetText(windows[0]!)).toContain("  window    none: the group's machines get no slot until it has one\n");
  });

  it("machines: by group, host, kind and name; lists joined, dashes for none", () => {
    const machines: MachineRecord[] = [
      { id: "hv1/web1", kind: "vm", name: "web1", host: "hv1", group: "acme", roles: ["production", "web"], tested: true, haGroups: ["acme-web"], estimatedMinutes: 30,
        source: "cli" },
      { id: "hv1", kind: "host", name: "hv1", host: "hv1", group: "acme", roles: ["hypervisor"], tested: false, haGroups: [], estimatedMinutes: 45,
        source: "agent-config" },
      { id: "hv0/db1", kind: "vm", name: "db1", host: "hv0", group: "acme", roles: [], tested: false, haGroups: [], estimatedMinutes: 7.5,
        source: "metadata" },
    ];
    const text = machinesTable(machines);
    expect(text.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^NAME\s+KIND\s+HOST\s+GROUP\s+ROLES\s+TESTED\s+HA-GROUPS\s+MINUTES\s+SOURCE$/),
      expect.stringMatching(/^db1\s+vm\s+hv0\s+acme\s+-\s+no\s+-\s+7\.5\s+metadata$/),
      expect.stringMatching(/^hv1\s+host\s+hv1\s+acme\s+hypervisor\s+no\s+-\s+45\s+agent-config$/),
      expect.stringMatching(/^web1\s+vm\s+hv1\s+acme\s+production,web\s+yes\s+acme-web\s+30\s+cli$/),
    ]);
    for (const column of ["KIND", "HOST", "GROUP", "ROLES", "TESTED", "HA-GROUPS", "MINUTES", "SOURCE"]) expectAligned(text, column);
  });
});

describe("machines set options", () => {
  it("the body: --host makes a host, flags map to the API's keys", () => {
    expect(buildMachineBody({ group: "acme", role: ["production"], tested: true, haGroup: ["acme-web"], slotLength: 20 * 60_000 })).toEqual({
      kind: "vm", group: "acme", roles: ["production"], tested: true, haGroups: ["acme-web"], estimatedMinutes: 20,
    });
    expect(buildMachineBody({ group: "ops", host: true })).toEqual({ kind: "host", group: "ops", roles: [], tested: false, haGroups: [] });
  });

  it("problems are named by their flag", () => {
    let err: unknown;
    try {
      buildMachineBody({ role: ["web", "", "web"], slotLength: 20_000 * 60_000, haGroup: ["x".repeat(201)] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe("NS_ERR_MACHINE_SPEC");
    const lines = (err as UsageError).message.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
    expect(lines).toEqual([
      "--group: missing: give --group GROUP",
      '--role (roles[2]): "web" is given twice',
      "--role (roles[1]): must not be empty",
      "--ha-group (haGroups[0]): must be at most 200 characters long",
      "--slot-length: must be at most 7d, got 20000m",
    ]);
  });
});
