/**
 * `nightshift windows`, `machines` and `plan ...` as real processes against a
 * real controller. hv1 and hv2 are agents that report an inventory; the plan
 * starts in the week after next, so no slot opens while the tests run.
 */
import { PLAN_EXAMPLE_FILE } from "../../helpers/plan-example.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { startController, type TestController } from "../../helpers/controller.js";
import type { TestAgent } from "../../helpers/ws-agent.js";
import { expectAligned } from "../../helpers/table-assert.js";
import type { MachineRecord, PlanCheckRecord, PlanRecord, PlanRequest, WindowsRecord } from "../../../shared/plans.js";
import { api, apiCall, enrolledAgent, runAgainst, waitForVms } from "./run-cli.js";

let controller: TestController;
let hv1: TestAgent;
let hv2: TestAgent;
let dir: string;

const nightshift = (...args: string[]) => runAgainst(controller, args);

/**
 * Windows records compared field by field; an always-open group's next window
 * starts "now", so those two times only need to be within seconds of each other.
 */
function expectSameWindows(printed: WindowsRecord[], fromApi: WindowsRecord[]): void {
  const withoutNext = (records: WindowsRecord[]) => records.map(({ nextWindowStart: _s, nextWindowEnd: _e, ...rest }) => rest);
  expect(withoutNext(printed)).toEqual(withoutNext(fromApi));
  printed.forEach((record, i) => {
    for (const key of ["nextWindowStart", "nextWindowEnd"] as const) {
      const [a, b] = [record[key], fromApi[i]![key]];
      expect(a === null ? null : Math.abs(Date.parse(a) - Date.parse(b!)), `${record.group} ${key}`).toBeLessThan(10_000);
    }
  });
}

/** The Monday at least eight days from now (UTC): the plan's first week is entirely in the future. */
function mondayAfterNext(): string {
  const day = new Date();
  day.setUTCDate(day.getUTCDate() + 8);
  while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

const START = mondayAfterNext();

const SPEC = `name: cli week
timezone: UTC
maxParallel: 4
waves:
  - name: automation
    start: mon 00:00
    failureBudget: 1
    select:
      - role: infrastructure
  - name: test
    start: tue 00:00
    select:
      - { role: test, tested: true }
      - { role: test }
  - name: production
    start: wed 00:00
    failureBudget: 10%
    select:
      - { role: production }
  - name: hypervisors
    start: thu 00:00
    end: sat 00:00
    select:
      - { role: hypervisor }
run:
  patch: {exec: apt-get -y upgrade}
  reboot: if-required
  verify: {tcp: [22]}
`;

let specFile: string;

beforeAll(async () => {
  controller = await startController();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-cli-plans-"));
  specFile = path.join(dir, "week.yaml");
  fs.writeFileSync(specFile, SPEC);
  hv1 = await enrolledAgent(controller, "hv1", ["mon1", "test1", "test2", "web1", "web2", "web3", "dup"]);
  hv2 = await enrolledAgent(controller, "hv2", ["dup", "db1"]);
  await waitForVms(controller, 9);
});

afterAll(async () => {
  await hv1?.close();
  await hv2?.close();
  await controller?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("windows", () => {
  it("set from flags: the stored preference in the flags' words, exit 0", async () => {
    const result = await nightshift("windows", "set", "acme", "--tz", "Europe/Berlin", "--window", "mon-fri 01:00-05:00",
      "--window", "sat,sun 10:00-12:00", "--blackout", "2099-12-24", "--blackout", "2099-12-27..2100-01-02", "--notice", "48h");
    expect(result.code, result.stderr).toBe(0);
    const [record] = (await api(controller, "/v1/windows") as WindowsRecord[]).filter((w) => w.group === "acme");
    expect(record).toMatchObject({
      timezone: "Europe/Berlin", notice: "48h", blackouts: ["2099-12-24", { from: "2099-12-27", to: "2100-01-02" }],
      windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "01:00", end: "05:00" }, { days: ["sat", "sun"], start: "10:00", end: "12:00" }],
    });
    expect(result.stdout).toBe([
      "Windows of group acme set (Europe/Berlin):",
      "  window    mon-fri 01:00-05:00",
      "  window    sat,sun 10:00-12:00",
      "  blackout  2099-12-24, 2099-12-27..2100-01-02",
      "  notice    48h",
      `  next      ${record!.nextWindowStart!.slice(0, 10)} ${record!.nextWindowStart!.slice(11, 16)}-` +
        `${record!.nextWindowEnd!.slice(11, 16)} UTC`,
      "  machines  0 in the group (nightshift machines)",
    ].join("\n") + "\n");
  });

  it("set from a file, a flag overriding its notice; --json is the API's answer", async () => {
    const file = path.join(dir, "ops.yaml");
    fs.writeFileSync(file, 'group: ops\ntimezone: UTC\nwindows:\n  - { days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "00:00" }\nnotice: 1h\n');
    const result = await nightshift("windows", "set", "ops", "-f", file, "--notice", "2h", "--json");
    expect(result.code, result.stderr).toBe(0);
    const record = JSON.parse(result.stdout) as WindowsRecord;
    expect(record).toMatchObject({ group: "ops", timezone: "UTC", notice: "2h", blackouts: [], machines: 0 });
    expectSameWindows([record], (await api(controller, "/v1/windows") as WindowsRecord[]).filter((w) => w.group === "ops"));
  });

  it("lists every group; --json as the API", async () => {
    const table = await nightshift("windows");
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^GROUP\s+TZ\s+WINDOWS\s+BLACKOUTS\s+NOTICE\s+MACHINES\s+NEXT WINDOW \(UTC\)$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^acme\s+Europe\/Berlin\s+mon-fri 01:00-05:00; sat,sun 10:00-12:00\s+2099-12-24, 2099-12-27\.\.2100-01-02\s+48h\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d-\d\d:\d\d$/);
    expect(rows[1]).toMatch(/^ops\s+UTC\s+daily 00:00-00:00\s+-\s+2h\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d-\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expectAligned(table.stdout, "NEXT WINDOW (UTC)");
    const json = await nightshift("windows", "--json");
    expectSameWindows(JSON.parse(json.stdout) as WindowsRecord[], await api(controller, "/v1/windows") as WindowsRecord[]);
  });

  it("invalid flags and files are usage errors (exit 2) and nothing is sent", async () => {
    const before = await api(controller, "/v1/windows");
    const flags = await nightshift("windows", "set", "acme", "--tz", "Mars/Olympus", "--notice", "soon");
    expect(flags.code).toBe(2);
    expect(flags.stdout).toBe("");
    expect(flags.stderr).toBe("nightshift: invalid windows for group acme, nothing was changed:\n" +
      '  --tz: unknown time zone: expected an IANA name like Europe/Berlin, America/New_York or UTC, got "Mars/Olympus"\n' +
      '  --notice: expected a duration like 90s, 15m, 48h, 3d, got "soon"\n' +
      "Flags and file keys: nightshift windows set --help (NS_ERR_WINDOWS_SPEC)\n");
    const window = await nightshift("windows", "set", "acme", "--tz", "UTC", "--window", "tue 2:00-05:00");
    expect(window.code).toBe(2);
    expect(window.stderr).toMatch(/option '--window <spec>' argument 'tue 2:00-05:00' is invalid\. "2:00" is not a time of day HH:MM/);
    const blackout = await nightshift("windows", "set", "acme", "--tz", "UTC", "--blackout", "2099-12-27..2099-12-01");
    expect(blackout.code).toBe(2);
    expect(blackout.stderr).toContain("2099-12-27 is after 2099-12-01: a range is FROM..TO");
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "timezone: UTC\nwindows:\n  - {days: [tue], start: \"02:00\"}\n");
    const fromFile = await nightshift("windows", "set", "acme", "-f", file);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain(`  ${file}:3: windows[0].end: missing: give end: "05:00"\n`);
    expectSameWindows(await api(controller, "/v1/windows") as WindowsRecord[], before as WindowsRecord[]);
  });

  it("delete: the group's record goes; an unknown group is the controller's NS_ERR_NO_WINDOWS (exit 1)", async () => {
    expect((await nightshift("windows", "set", "temp", "--tz", "UTC")).code).toBe(0);
    const deleted = await nightshift("windows", "delete", "temp");
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe("Windows of group temp deleted: its machines get no slot in plans made from now on.\n");
    expect((await api(controller, "/v1/windows") as WindowsRecord[]).map((w) => w.group)).toEqual(["acme", "ops"]);
    const again = await nightshift("windows", "delete", "temp");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^nightshift: group 'temp' has no maintenance windows.*\(NS_ERR_NO_WINDOWS\)\n$/);
  });
});

describe("machines", () => {
  const set = async (...args: string[]) => {
    const result = await nightshift("machines", "set", ...args);
    expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
    return result;
  };

  it("set VMs and hypervisors; the answer says what was stored", async () => {
    const web1 = await set("web1", "--group", "acme", "--role", "production", "--role", "web", "--tested", "--ha-group", "acme-web");
    expect(web1.stdout).toBe("Machine web1 (VM on hv1, id hv1/web1) set: group acme; roles production, web; tested (has verify checks); " +
      "HA groups acme-web; 30 min slots.\n");
    await set("web2", "--group", "acme", "--role", "production", "--ha-group", "acme-web", "--slot-length", "20m");
    await set("mon1", "--group", "ops", "--role", "infrastructure");
    await set("test1", "--group", "acme", "--role", "test", "--tested");
    await set("test2", "--group", "acme", "--role", "test");
    await set("hv2/db1", "--group", "acme", "--role", "production", "--slot-length", "1h");
    const host = await set("hv2", "--host", "--group", "ops", "--role", "hypervisor", "--slot-length", "45m");
    expect(host.stdout).toBe("Machine hv2 (hypervisor, id hv2) set: group ops; roles hypervisor; untested; HA groups none; 45 min slots.\n");
    const json = await set("hv1", "--host", "--group", "ops", "--role", "hypervisor", "--json");
    expect(JSON.parse(json.stdout)).toEqual({
      id: "hv1", kind: "host", name: "hv1", host: "hv1", group: "ops", roles: ["hypervisor"], tested: false, haGroups: [], estimatedMinutes: 30,
      source: "cli",
    });
  });

  it("lists them by group, host, kind and name; --json as the API", async () => {
    const table = await nightshift("machines");
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+KIND\s+HOST\s+GROUP\s+ROLES\s+TESTED\s+HA-GROUPS\s+MINUTES\s+SOURCE$/);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(["test1", "test2", "web1", "web2", "db1", "hv1", "mon1", "hv2"]);
    expect(rows).toContainEqual(expect.stringMatching(/^web1\s+vm\s+hv1\s+acme\s+production,web\s+yes\s+acme-web\s+30\s+cli$/));
    expect(rows).toContainEqual(expect.stringMatching(/^hv2\s+host\s+hv2\s+ops\s+hypervisor\s+no\s+-\s+45\s+cli$/));
    expectAligned(table.stdout, "MINUTES");
    const json = await nightshift("machines", "--json");
    const machines = JSON.parse(json.stdout) as MachineRecord[];
    expect(machines).toEqual(await api(controller, "/v1/machines"));
    expect(machines).toHaveLength(8);
    // The group counts in windows follow.
    const windows = await api(controller, "/v1/windows") as WindowsRecord[];
    expect(windows.map((w) => [w.group, w.machines])).toEqual([["acme", 5], ["ops", 3]]);
  });

  it("the controller's errors: unknown VM, a name on two hosts, an unknown host (exit 1)", async () => {
    const unknown = await nightshift("machines", "set", "nosuch", "--group", "acme");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^nightshift: no VM named 'nosuch' in the inventory.*\(NS_ERR_NO_VM\)\n$/);
    const dup = await nightshift("machines", "set", "dup", "--group", "acme");
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^nightshift: 'dup' exists on hv1, hv2: name it as HOST\/VM.*\(NS_ERR_VM_AMBIGUOUS\)\n$/);
    const host = await nightshift("machines", "set", "hv9", "--host", "--group", "ops");
    expect(host.code).toBe(1);
    expect(host.stderr).toMatch(/\(NS_ERR_NO_HOST\)\n$/);
  });

  it("usage errors (exit 2), nothing sent: no group, a repeated role, a slot length that is not a duration, the old --minutes", async () => {
    const before = await api(controller, "/v1/machines");
    const noGroup = await nightshift("machines", "set", "web3", "--role", "web", "--role", "web");
    expect(noGroup.code).toBe(2);
    expect(noGroup.stderr).toBe("nightshift: invalid machine options, nothing was changed:\n  --group: missing: give --group GROUP\n" +
      '  --role (roles[1]): "web" is given twice\nOptions: nightshift machines set --help (NS_ERR_MACHINE_SPEC)\n');
    const notDuration = await nightshift("machines", "set", "web3", "--group", "acme", "--slot-length", "half an hour");
    expect(notDuration.code).toBe(2);
    expect(notDuration.stderr).toContain("argument 'half an hour' is invalid. expected a duration like 45m, 90m, 2h");
    const bare = await nightshift("machines", "set", "web3", "--group", "acme", "--slot-length", "30");
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("a bare number is not a duration: give its unit, like 30s or 30m");
    const minutes = await nightshift("machines", "set", "web3", "--group", "acme", "--minutes", "30");
    expect(minutes.code).toBe(2);
    expect(minutes.stderr).toContain("--minutes was replaced by --slot-length DURATION: give --slot-length 30m");
    expect(await api(controller, "/v1/machines")).toEqual(before);
  });

  it("delete by name, by HOST/VM, with --host; the deleted record with --json", async () => {
    await set("hv1/dup", "--group", "acme");
    await set("hv2/dup", "--group", "acme");
    const ambiguous = await nightshift("machines", "delete", "dup");
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/\(NS_ERR_MACHINE_AMBIGUOUS\)\n$/);
    const byId = await nightshift("machines", "delete", "hv1/dup");
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toBe("Machine hv1/dup (VM) deleted: it is out of scope for plans made from now on.\n");
    const json = await nightshift("machines", "delete", "dup", "--vm", "--json");
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: "hv2/dup", kind: "vm", name: "dup" });
    const gone = await nightshift("machines", "delete", "dup");
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\(NS_ERR_NO_MACHINE\)\n$/);
    expect((await nightshift("machines", "delete", "dup", "--vm", "--host")).code).toBe(2);
    expect((await api(controller, "/v1/machines") as MachineRecord[])).toHaveLength(8);
  });
});

describe("plans", () => {
  /** The request plan week sends for SPEC, made here from the YAML directly. */
  const request = (dryRun: boolean): PlanRequest => {
    const { run, ...spec } = parseYaml(SPEC) as Record<string, unknown>;
    return { spec, run, start: START, dryRun } as PlanRequest;
  };
  let planId: string;

  it("no plan yet: show, check and pause say so (exit 1, NS_ERR_NO_PLAN)", async () => {
    for (const args of [["plan", "show"], ["plan", "check"], ["plan", "pause"], ["plan", "export", "--ics", "acme"]]) {
      const result = await nightshift(...args);
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toMatch(/^nightshift: there is no current plan.*\(NS_ERR_NO_PLAN\)\n$/);
    }
  });

  it("week --dry-run: the plan as the API computes it, nothing stored", async () => {
    const json = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--dry-run", "--json");
    expect(json.code, json.stderr).toBe(0);
    const printed = JSON.parse(json.stdout) as PlanRecord;
    const { status, json: direct } = await apiCall<PlanRecord>(controller, "POST", "/v1/plans", request(true));
    expect(status).toBe(200);
    expect({ ...printed, createdAt: null }).toEqual({ ...direct, createdAt: null });
    expect(printed.slots).toHaveLength(8);
    expect(printed.unplaced).toEqual([]);

    const text = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--dry-run");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split("\n")[0]).toBe('Plan dry-run "cli week": scheduled (dry run: nothing was stored)');
    expect(text.stdout).not.toContain("nightshift plan check");
    expect((await apiCall(controller, "GET", "/v1/plans/current")).status).toBe(404);
  });

  it("the shipped example's own header command works: plan week --spec deploy/examples/one-few-many.yaml --dry-run", async () => {
    const result = await nightshift("plan", "week", "--spec", PLAN_EXAMPLE_FILE, "--dry-run");
    expect(result.stderr).not.toMatch(/missing/);
    expect(result.stdout.split("\n")[0]).toBe('Plan dry-run "one-few-many": scheduled (dry run: nothing was stored)');
    expect((await apiCall(controller, "GET", "/v1/plans/current")).status).toBe(404);
  });

  it("week: stores the plan and prints it by wave, each machine's slot in its row", async () => {
    const result = await nightshift("plan", "week", "--spec", specFile, "--start", START);
    expect(result.code, result.stderr).toBe(0);
    const plan = await api(controller, "/v1/plans/current") as PlanRecord;
    planId = plan.id;
    expect(result.stdout.split("\n")[0]).toBe(`Plan ${plan.id} "cli week": ${plan.state}`);
    expect(result.stdout).toContain("All times are UTC.\n");
    expect(result.stdout).toMatch(/\nCheck that every machine has a slot: nightshift plan check\n$/);
    const lines = result.stdout.split("\n");
    const headers = lines.filter((l) => l.startsWith("Wave "));
    expect(headers.map((h) => /^Wave \d\/4 (\S+):/.exec(h)![1])).toEqual(["automation", "test", "production", "hypervisors"]);
    for (const slot of plan.slots) {
      const day = new Date(slot.start).toUTCString().slice(0, 3);
      const row = new RegExp(`^ {2}${day} ${slot.start.slice(0, 10)}\\s+${slot.start.slice(11, 16)}\\s+${slot.end.slice(11, 16)}\\s+` +
        `${slot.name}\\s+${slot.kind}\\s+${slot.host}\\s+${slot.group}\\s+scheduled\\s+-\\s+-$`, "m");
      expect(result.stdout, slot.name).toMatch(row);
      // Under its own wave's header.
      const header = lines.findLastIndex((l, i) => l.startsWith("Wave ") && i < lines.findIndex((x) => row.test(x)));
      expect(lines[header]).toContain(` ${slot.wave}: `);
    }
    // Hypervisors after their VMs, the production wave's tested VM in it.
    const hv2 = plan.slots.find((s) => s.name === "hv2")!;
    expect(plan.slots.filter((s) => s.host === "hv2" && s.kind === "vm").every((s) => s.end <= hv2.start)).toBe(true);
    expect(plan.slots.find((s) => s.name === "test1")!.wave).toBe("test");
  });

  it("show: the same text; --json and show ID --json as the API", async () => {
    const show = await nightshift("plan", "show");
    expect(show.code, show.stderr).toBe(0);
    const week = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--dry-run");
    // The layout is shared with week; only the id and the dry-run note differ.
    expect(show.stdout.split("\n").filter((l) => l.startsWith("Wave ")))
      .toEqual(week.stdout.split("\n").filter((l) => l.startsWith("Wave ")));
    const json = await nightshift("plan", "show", "--json");
    expect(JSON.parse(json.stdout)).toEqual(await api(controller, "/v1/plans/current"));
    const byId = await nightshift("plan", "show", planId, "--json");
    expect(JSON.parse(byId.stdout)).toEqual(await api(controller, `/v1/plans/${planId}`));
    const unknown = await nightshift("plan", "show", "nosuch");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(NS_ERR_NO_PLAN\)\n$/);
  });

  it("check: exit 0 when every machine has one slot; a machine added after planning makes it exit 1", async () => {
    const ok = await nightshift("plan", "check");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("Every machine in scope has exactly one slot in the current plan.\n");
    expect(JSON.parse((await nightshift("plan", "check", "--json")).stdout)).toEqual([]);

    expect((await nightshift("machines", "set", "web3", "--group", "acme", "--role", "production")).code).toBe(0);
    const missing = await nightshift("plan", "check");
    expect(missing.code).toBe(1);
    const records = await api(controller, "/v1/plans/current/check") as PlanCheckRecord[];
    expect(records.map((r) => [r.name, r.problem])).toEqual([["web3", "no-slot"]]);
    const [header, row] = missing.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^MACHINE\s+GROUP\s+PROBLEM\s+REASON\s+DETAIL$/);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(row).toMatch(new RegExp(`^web3\\s+acme\\s+no-slot\\s+${escape(records[0]!.reason ?? "-")}\\s+${escape(records[0]!.detail)}$`));
    expect(missing.stderr).toMatch(/^nightshift: 1 machine in scope does not have exactly one slot \(1 without a slot\): .*nightshift plan week --spec FILE\) \(NS_ERR_PLAN_INCOMPLETE\)\n$/);
    const json = await nightshift("plan", "check", "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual(records);
  });

  it("a machine whose group has no windows is listed as unplaced with its reason", async () => {
    expect((await nightshift("machines", "set", "web3", "--group", "nowin", "--role", "production")).code).toBe(0);
    const dry = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--dry-run", "--json");
    const plan = JSON.parse(dry.stdout) as PlanRecord;
    // web3 has no slot, and so neither has its hypervisor, which must come after it.
    expect(plan.unplaced.map(({ name, group, wave, reason }) => ({ name, group, wave, reason }))).toEqual([
      { name: "web3", group: "nowin", wave: "production", reason: "no-preference" },
      { name: "hv1", group: "ops", wave: "hypervisors", reason: "waits-for" },
    ]);
    const text = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--dry-run");
    expect(text.stdout).toContain("  unplaced  2 machines without a slot (below)\n");
    const [web3, hv1] = plan.unplaced;
    expect(text.stdout).toContain("\nUnplaced (2): no slot for these machines; WAVE \"(none)\" means no wave selected it\n");
    expect(text.stdout).toMatch(/\n {2}MACHINE\s+GROUP\s+WAVE\s+REASON\s+DETAIL\n {2}web3\s+nowin\s+production\s+no-preference\s+(.*)\n {2}hv1\s+ops\s+hypervisors\s+waits-for\s+(.*)\n/);
    expect(text.stdout).toContain(`  ${web3!.detail}\n`);
    expect(text.stdout).toContain(`  ${hv1!.detail}\n`);
    expect((await nightshift("machines", "delete", "web3")).code).toBe(0);
  });

  it("export --ics: the group's calendar on stdout or in a file", async () => {
    const plan = await api(controller, "/v1/plans/current") as PlanRecord;
    const stdout = await nightshift("plan", "export", "--ics", "acme");
    expect(stdout.code, stdout.stderr).toBe(0);
    expect(stdout.stdout).toMatch(/^BEGIN:VCALENDAR\r\n/);
    expect(stdout.stdout).toMatch(/END:VCALENDAR\r\n$/);
    const acme = plan.slots.filter((s) => s.group === "acme");
    expect(stdout.stdout.match(/^BEGIN:VEVENT\r$/gm)).toHaveLength(acme.length);
    const res = await fetch(`${controller.url}/v1/plans/current/ics?group=acme`, { headers: { Authorization: `Bearer ${controller.adminToken}` } });
    expect(stdout.stdout).toBe(await res.text());

    const out = path.join(dir, "acme.ics");
    const file = await nightshift("plan", "export", "--ics", "acme", "-o", out);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).toBe("");
    expect(file.stderr).toBe(`Wrote ${acme.length} events for group acme to ${out}.\n`);
    expect(fs.readFileSync(out, "utf8")).toBe(stdout.stdout);

    const unknown = await nightshift("plan", "export", "--ics", "nosuch");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(NS_ERR_NO_GROUP\)\n$/);
    const noGroup = await nightshift("plan", "export");
    expect(noGroup.code).toBe(2);
    expect(noGroup.stderr).toContain("required option '--ics <group>' not specified");
  });

  it("pause and resume: the new state, as the API says", async () => {
    const paused = await nightshift("plan", "pause");
    expect(paused.code, paused.stderr).toBe(0);
    const plan = await api(controller, "/v1/plans/current") as PlanRecord;
    expect(plan.state).toBe("paused");
    expect(paused.stdout).toBe(`Plan ${plan.id} "cli week" is paused${plan.pausedReason ? ` (${plan.pausedReason})` : ""}: ` +
      "no new slot starts until nightshift plan resume (or nightshift plan cancel).\n");
    expect((await nightshift("plan", "show")).stdout).toContain(`"cli week": paused\n`);
    const resumed = await nightshift("plan", "resume", "--json");
    expect(resumed.code, resumed.stderr).toBe(0);
    const record = JSON.parse(resumed.stdout) as PlanRecord;
    expect(record.state).not.toBe("paused");
    expect(record).toEqual(await api(controller, "/v1/plans/current"));
  });

  it("week again replaces a plan that has not started; cancel ends the current plan", async () => {
    const again = await nightshift("plan", "week", "--spec", specFile, "--start", START, "--json");
    expect(again.code, again.stderr).toBe(0);
    const replacement = JSON.parse(again.stdout) as PlanRecord;
    expect(replacement.id).not.toBe(planId);
    expect((await api(controller, `/v1/plans/${planId}`) as PlanRecord).state).toBe("cancelled");

    const cancelled = await nightshift("plan", "cancel");
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(`Plan ${replacement.id} "cli week" is cancelled: its slots that have not started will not start.\n`);
    const record = await api(controller, `/v1/plans/${replacement.id}`) as PlanRecord;
    expect(record.state).toBe("cancelled");
    const show = await nightshift("plan", "show", replacement.id);
    expect(show.stdout.split("\n")[0]).toBe(`Plan ${replacement.id} "cli week": cancelled`);
  });

  it("an invalid spec file: exit 2 with FILE:LINE, nothing sent; a missing file", async () => {
    const bad = path.join(dir, "bad-week.yaml");
    fs.writeFileSync(bad, SPEC.replace("start: tue 00:00", "start: tue 24:00").replace("  reboot: if-required", "  reboot: maybe"));
    const result = await nightshift("plan", "week", "--spec", bad, "--start", START);
    const lineOf = (text: string) => SPEC.split("\n").indexOf(text) + 1;
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`nightshift: invalid plan spec ${bad}, nothing was planned:\n` +
      `  ${bad}:${lineOf("    start: tue 00:00")}: waves[1].start: expected "DAY HH:MM" (mon 06:00), "week N DAY HH:MM" (week 2 tue 00:00) or an ISO date-time with offset, got "tue 24:00"\n` +
      `  ${bad}:${lineOf("  reboot: if-required")}: run.reboot: must be one of never, always, if-required, got "maybe"\n` +
      "The spec format: nightshift plan week --help (NS_ERR_WAVE_SPEC)\n");
    const start = await nightshift("plan", "week", "--spec", specFile, "--start", "next monday");
    expect(start.code).toBe(2);
    expect(start.stderr).toMatch(/^nightshift: invalid plan spec .*\n {2}--start: expected a date YYYY-MM-DD .*, got "next monday"\n/);
    const missing = await nightshift("plan", "week", "--spec", path.join(dir, "nope.yaml"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`nightshift: cannot read plan spec ${path.join(dir, "nope.yaml")}: no such file (NS_ERR_PLAN_FILE)\n`);
    const noSpec = await nightshift("plan", "week");
    expect(noSpec.code).toBe(2);
    expect(noSpec.stderr).toContain("required option '--spec <file>' not specified");
    // The current plan was cancelled before: a request that reached the controller would have made one.
    expect((await apiCall(controller, "GET", "/v1/plans/current")).status).toBe(404);
  });

  it("what only the controller can see is its error (exit 1): waves out of order", async () => {
    const file = path.join(dir, "order.yaml");
    fs.writeFileSync(file, SPEC.replace("start: wed 00:00", "start: mon 12:00"));
    const result = await nightshift("plan", "week", "--spec", file, "--start", START, "--dry-run");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^nightshift: .*\(NS_ERR_WAVE_SPEC\)\n$/);
  });
});
