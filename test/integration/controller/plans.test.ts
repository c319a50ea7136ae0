/**
 * Maintenance windows and wave plans against an in-process controller with a
 * real SQLite file, real HTTP and simulated hypervisors over real WebSockets:
 * the windows and machines API; machines in scope through their domain
 * metadata and their agent's config; a plan over a generated fleet of 40 hosts and
 * 200 VMs (every machine in exactly one slot, the cross-check catching a
 * machine added afterwards, the iCalendar export parsed back by ical.js,
 * webhooks, metrics through promtool); execution with a clock that jumps to
 * each wave: a failing wave pauses the plan and resume continues it, a VM
 * that needs attention blocks resume until it is resolved, a restart in the
 * middle, reminders, operator pause and cancel.
 */
import { readPlanExample } from "../../helpers/plan-example.js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import ICAL from "ical.js";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import type { SimulatedHypervisor } from "../../helpers/simulated-hypervisor.js";
import { controllerApi, type Answer } from "../../helpers/controller-api.js";
import { TestAgent, sampleDomain } from "../../helpers/ws-agent.js";
import { generateFleet } from "../../helpers/fleet.js";
import { TestClock } from "../../helpers/test-clock.js";
import { WebhookReceiver } from "../../helpers/webhook-receiver.js";
import type { MachineBody, MachineRecord, PlanCheckRecord, PlanRecord, PlanRequest, SlotRecord, WindowsRecord } from "../../../shared/plans.js";
import type { RunDetail } from "../../../shared/runs.js";
import type { WaveSpecInput } from "../../../shared/windows.js";

const MINUTE = 60_000;

let controller: RunningController;
let dataDir: string;
let adminToken: string;
let clock: TestClock;
let hooks: WebhookReceiver;
let mailDir: string;
const hypervisors: SimulatedHypervisor[] = [];

const config = () => ControllerConfigSchema.parse({
  listen: "127.0.0.1:0", dataDir, agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "2s" },
  retention: { schedule: "0 0 1 1 *" }, notifications: { webhooks: [hooks.url], timeout: "2s" },
  plans: { tick: "100ms", reminder: "5m", sendmail: path.join(mailDir, "sendmail"), emails: { g: "noc@g.example" } },
});
const start = () => startController(config(), pino({ level: "silent" }), { clock: clock.now });

const { api, ok, hypervisor } = controllerApi(() => ({ url: controller.url, adminToken }), hypervisors);

const errorOf = (a: Answer<unknown>) => [a.status, (a.json as { error: { code: string } }).error.code];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (ms: number) => new Date(ms).toISOString();
const machine = (name: string, body: MachineBody) => ok<MachineRecord>("PUT", `/v1/machines/${encodeURIComponent(name)}`, body);
const ALWAYS_UTC = { timezone: "UTC", windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "00:00", end: "00:00" }] };
const RUN = { patch: { exec: "apt-get -y upgrade" }, verify: { exec: "cat /data/version", outputPattern: "v[0-9]+" } };

async function waitPlan(id: string, done: (p: PlanRecord) => boolean, what: string, timeoutMs = 10_000): Promise<PlanRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const plan = await ok<PlanRecord>("GET", `/v1/plans/${id}`);
    if (done(plan)) return plan;
    if (Date.now() > deadline) throw new Error(`plan ${id}: ${what} not within ${timeoutMs} ms: ${JSON.stringify(plan, null, 1)}`);
    await sleep(25);
  }
}

const slotOf = (plan: PlanRecord, name: string): SlotRecord => plan.slots.find((s) => s.name === name)!;
const states = (plan: PlanRecord) => Object.fromEntries(plan.slots.map((s) => [s.name, s.state]));
const TERMINAL = ["done", "failed", "skipped", "cancelled"];

/** The first whole minute at least a minute from the clock's now: nothing of a plan starting there is due at once. */
const nextMinute = () => Math.ceil((clock.now() + MINUTE) / MINUTE) * MINUTE;

/** Waves of `minutes` each from m0, by name and the role they take. */
function waves(m0: number, list: { name: string; role: string; failureBudget?: number | string }[], minutes = 10): WaveSpecInput["waves"] {
  return list.map((w, i) => ({
    name: w.name, start: iso(m0 + i * minutes * MINUTE), end: iso(m0 + (i + 1) * minutes * MINUTE),
    ...(w.failureBudget === undefined ? {} : { failureBudget: w.failureBudget }), select: [{ role: w.role }],
  }));
}

/** Mails "sent" through the fake sendmail, oldest first: its arguments and the message. */
function mails(): { args: string; message: string }[] {
  return fs.readdirSync(mailDir).filter((f) => f.endsWith(".eml")).sort().map((f) => {
    const text = fs.readFileSync(path.join(mailDir, f), "utf8");
    const nl = text.indexOf("\n");
    return { args: text.slice(0, nl), message: text.slice(nl + 1) };
  });
}

beforeAll(async () => {
  hooks = await WebhookReceiver.start();
  mailDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-plans-mail-"));
  // A stand-in for sendmail that keeps each message in a file.
  fs.writeFileSync(path.join(mailDir, "sendmail"),
    `#!/bin/sh\n{ echo "$*"; cat; } > "${mailDir}/$(date +%s%N)-$$.eml"\n`, { mode: 0o755 });
});

afterAll(async () => {
  await hooks.close();
  fs.rmSync(mailDir, { recursive: true, force: true });
});

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-plans-"));
  clock = new TestClock();
  hooks.clear();
  for (const f of fs.readdirSync(mailDir)) if (f.endsWith(".eml")) fs.rmSync(path.join(mailDir, f));
  controller = await start();
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterEach(async () => {
  for (const hv of hypervisors) await hv.disconnect();
  hypervisors.length = 0;
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("windows and machines API", () => {
  it("sets, lists and deletes a group's windows with the next open window; refuses bad ones naming the field", async () => {
    clock.set(Date.parse("2025-03-24T12:00:00Z")); // a Monday; Berlin is on CET until the 30th
    const set = await ok<WindowsRecord>("PUT", "/v1/windows/acme",
      { timezone: "Europe/Berlin", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }], notice: "48h", blackouts: ["2025-12-24"] });
    expect(set).toEqual({
      group: "acme", timezone: "Europe/Berlin", windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }],
      blackouts: ["2025-12-24"], notice: "48h", nextWindowStart: "2025-03-25T01:00:00.000Z", nextWindowEnd: "2025-03-25T04:00:00.000Z", machines: 0,
    });
    // After the change to summer time the same window is an hour earlier in UTC.
    clock.set(Date.parse("2025-03-31T12:00:00Z"));
    const list = await ok<WindowsRecord[]>("GET", "/v1/windows");
    expect(list.map((w) => [w.group, w.nextWindowStart, w.nextWindowEnd])).toEqual([["acme", "2025-04-01T00:00:00.000Z", "2025-04-01T03:00:00.000Z"]]);

    const badZone = await api<{ error: { code: string; message: string } }>("PUT", "/v1/windows/acme", { timezone: "Mars/Olympus", windows: [] });
    expect(errorOf(badZone)).toEqual([400, "NS_ERR_BAD_REQUEST"]);
    expect(badZone.json.error.message).toMatch(/timezone: unknown time zone/);
    const badTime = await api<{ error: { message: string } }>("PUT", "/v1/windows/acme",
      { timezone: "UTC", windows: [{ days: ["tue"], start: "25:00", end: "05:00" }] });
    expect(badTime.status).toBe(400);
    expect(badTime.json.error.message).toMatch(/windows\.0\.start/);
    const unknownKey = await api<{ error: { message: string } }>("PUT", "/v1/windows/acme", { timezone: "UTC", group: "other" });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.json.error.message).toMatch(/group/);
    // Refused changes left it as it was.
    expect((await ok<WindowsRecord[]>("GET", "/v1/windows"))[0]!.timezone).toBe("Europe/Berlin");

    expect((await ok<WindowsRecord>("DELETE", "/v1/windows/acme")).group).toBe("acme");
    expect(errorOf(await api("DELETE", "/v1/windows/acme"))).toEqual([404, "NS_ERR_NO_WINDOWS"]);
    expect(await ok<WindowsRecord[]>("GET", "/v1/windows")).toEqual([]);
  });

  it("registers VMs by name or HOST/VM and enrolled hosts; unknown, ambiguous and invalid ones are refused", async () => {
    await hypervisor("hv1", ["web1", "db1"]);
    await hypervisor("hv2", ["web1"]);
    await ok("PUT", "/v1/windows/acme", ALWAYS_UTC);

    expect(await machine("db1", { group: "acme", roles: ["production"] })).toEqual({
      id: "hv1/db1", kind: "vm", name: "db1", host: "hv1", group: "acme", roles: ["production"], tested: false, haGroups: [], estimatedMinutes: 30,
      source: "cli",
    });
    expect(errorOf(await api("PUT", "/v1/machines/web1", { group: "acme" }))).toEqual([409, "NS_ERR_VM_AMBIGUOUS"]);
    const web = await machine("hv2/web1", { group: "acme", roles: ["test"], tested: true, haGroups: ["web"], estimatedMinutes: 20 });
    expect([web.id, web.host, web.tested, web.haGroups, web.estimatedMinutes]).toEqual(["hv2/web1", "hv2", true, ["web"], 20]);
    expect((await machine("hv1", { kind: "host", group: "ops", roles: ["hypervisor"] })).id).toBe("hv1");

    expect(errorOf(await api("PUT", "/v1/machines/nope", { group: "acme" }))).toEqual([404, "NS_ERR_NO_VM"]);
    expect(errorOf(await api("PUT", "/v1/machines/hv9", { kind: "host", group: "ops" }))).toEqual([404, "NS_ERR_NO_HOST"]);
    const negative = await api<{ error: { message: string } }>("PUT", "/v1/machines/db1", { group: "acme", estimatedMinutes: -5 });
    expect(negative.status).toBe(400);
    expect(negative.json.error.message).toMatch(/estimatedMinutes/);
    const typo = await api<{ error: { message: string } }>("PUT", "/v1/machines/db1", { group: "acme", rolse: ["x"] });
    expect(typo.status).toBe(400);
    expect(typo.json.error.message).toMatch(/rolse/);

    const list = await ok<MachineRecord[]>("GET", "/v1/machines");
    expect(list.map((m) => m.id)).toEqual(["hv1/db1", "hv2/web1", "hv1"]);
    expect((await ok<WindowsRecord[]>("GET", "/v1/windows"))[0]!.machines).toBe(2);

    expect((await ok<MachineRecord>("DELETE", "/v1/machines/db1")).id).toBe("hv1/db1");
    expect(errorOf(await api("DELETE", "/v1/machines/db1"))).toEqual([404, "NS_ERR_NO_MACHINE"]);
    expect((await ok<MachineRecord>("DELETE", `/v1/machines/${encodeURIComponent("hv2/web1")}`)).id).toBe("hv2/web1");
    expect((await ok<MachineRecord[]>("GET", "/v1/machines")).map((m) => m.id)).toEqual(["hv1"]);
  });

  it("refuses bad plan requests with the part named; without a plan, current/check/ics answer 404", async () => {
    const m0 = nextMinute();
    const spec = { name: "p", waves: waves(m0, [{ name: "one", role: "test" }]) };
    expect(errorOf(await api("POST", "/v1/plans", { spec: { waves: [] }, run: RUN }))).toEqual([400, "NS_ERR_WAVE_SPEC"]);
    expect(errorOf(await api("POST", "/v1/plans", { spec, run: { patch: {} } }))).toEqual([400, "NS_ERR_RUN_SPEC"]);
    expect(errorOf(await api("POST", "/v1/plans", { spec, run: RUN, start: "next tuesday" }))).toEqual([400, "NS_ERR_BAD_REQUEST"]);
    const past = { name: "p", waves: waves(m0 - 60 * MINUTE, [{ name: "one", role: "test" }]) };
    const late = await api<{ error: { code: string; message: string } }>("POST", "/v1/plans", { spec: past, run: RUN });
    expect(errorOf(late)).toEqual([400, "NS_ERR_WAVE_SPEC"]);
    expect(late.json.error.message).toMatch(/before its assignment time/);
    const pattern = await api("POST", "/v1/plans", { spec, run: { ...RUN, verify: { exec: "true", outputPattern: "(" } } });
    expect(errorOf(pattern)).toEqual([400, "NS_ERR_RUN_SPEC"]);
    for (const p of ["/v1/plans/current", "/v1/plans/current/check", "/v1/plans/current/ics?group=x"]) {
      expect(errorOf(await api("GET", p)), p).toEqual([404, "NS_ERR_NO_PLAN"]);
    }
    expect(errorOf(await api("POST", "/v1/plans/current/pause"))).toEqual([404, "NS_ERR_NO_PLAN"]);
  });
});

describe("machines in scope from domain metadata and agent config", () => {
  const hello = (maintenance?: object) => ({ v: 1, type: "hello", host: "hv1", hostname: "hv1.example", agentVersion: "0.1.0",
    libvirtVersion: "9.0.0", libvirtUri: "qemu:///system", ...(maintenance ? { maintenance } : {}) });
  /** An agent for hv1 that says `hello` and reports `domains`, once the controller has stored them. */
  async function agent(token: string, helloMessage: object, domains: object[]): Promise<TestAgent> {
    const a = await TestAgent.connect(controller.url, token);
    a.send(helloMessage);
    await a.next("welcome");
    a.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains });
    for (let i = 0; i < 100 && (await ok<unknown[]>("GET", "/v1/vms")).length !== domains.length; i++) await sleep(20);
    return a;
  }

  it("lists them with their source beside CLI memberships, which win and alone can be deleted; a plan places them all", async () => {
    const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv1" }, 201);
    const web = { roles: ["production"], haGroups: ["acme-web"] };
    const domains = [
      { ...sampleDomain("web1"), maintenance: { group: "acme", ...web, tested: true, estimatedMinutes: 15 } },
      { ...sampleDomain("web2"), maintenance: { group: "acme", ...web, tested: false } },
      { ...sampleDomain("mon1"), maintenance: { group: "acme", roles: ["test"], tested: false } },
      sampleDomain("db1"),
    ];
    let hv1 = await agent(token, hello({ group: "ops", roles: ["hypervisor"], estimatedMinutes: 20 }), domains);
    try {
      for (const group of ["acme", "ops"]) await ok("PUT", `/v1/windows/${group}`, ALWAYS_UTC);
      // The CLI's membership wins over mon1's metadata.
      expect((await machine("mon1", { group: "ops", roles: ["infrastructure"] })).source).toBe("cli");

      const list = await ok<MachineRecord[]>("GET", "/v1/machines");
      expect(list.map((m) => [m.id, m.source, m.group, m.roles.join(",")])).toEqual([
        ["hv1/web1", "metadata", "acme", "production"],
        ["hv1/web2", "metadata", "acme", "production"],
        ["hv1/mon1", "cli", "ops", "infrastructure"],
        ["hv1", "agent-config", "ops", "hypervisor"],
      ]);
      expect(list[0]).toEqual({ id: "hv1/web1", kind: "vm", name: "web1", host: "hv1", group: "acme", roles: ["production"], tested: true,
        haGroups: ["acme-web"], estimatedMinutes: 15, source: "metadata" });
      expect(list[1]).toMatchObject({ tested: false, estimatedMinutes: 30 });
      expect(list[3]).toEqual({ id: "hv1", kind: "host", name: "hv1", host: "hv1", group: "ops", roles: ["hypervisor"], tested: false,
        haGroups: [], estimatedMinutes: 20, source: "agent-config" });
      expect((await ok<WindowsRecord[]>("GET", "/v1/windows")).map((w) => [w.group, w.machines])).toEqual([["acme", 2], ["ops", 2]]);

      // Only CLI memberships can be deleted; the others say where to change them.
      const fromMetadata = await api<{ error: { code: string; message: string } }>("DELETE", "/v1/machines/web1");
      expect(errorOf(fromMetadata)).toEqual([409, "NS_ERR_MACHINE_NOT_CLI"]);
      expect(fromMetadata.json.error.message).toMatch(/hv1\/web1 is in scope through the <maintenance> element of its domain <metadata>.*virsh edit web1/);
      const fromConfig = await api<{ error: { code: string; message: string } }>("DELETE", "/v1/machines/hv1?kind=host");
      expect(errorOf(fromConfig)).toEqual([409, "NS_ERR_MACHINE_NOT_CLI"]);
      expect(fromConfig.json.error.message).toMatch(/maintenance\.group in its agent's config/);
      // Deleting mon1's CLI membership hands it back to its metadata.
      expect(await ok<MachineRecord>("DELETE", "/v1/machines/mon1")).toMatchObject({ id: "hv1/mon1", source: "cli", group: "ops" });
      expect((await ok<MachineRecord[]>("GET", "/v1/machines")).find((m) => m.name === "mon1")).toMatchObject({ source: "metadata", group: "acme" });
      await machine("mon1", { group: "ops", roles: ["infrastructure"] });

      const m0 = nextMinute();
      const spec = { name: "reported", waves: waves(m0, [{ name: "infra", role: "infrastructure" }, { name: "prod", role: "production" },
        { name: "hosts", role: "hypervisor" }], 120) };
      const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: RUN }, 201);
      expect(plan.unplaced).toEqual([]);
      expect(plan.slots.map((s) => [s.machineId, s.wave, s.kind, s.group])).toEqual(expect.arrayContaining([
        ["hv1/mon1", "infra", "vm", "ops"], ["hv1/web1", "prod", "vm", "acme"], ["hv1/web2", "prod", "vm", "acme"], ["hv1", "hosts", "host", "ops"],
      ]));
      expect(plan.slots).toHaveLength(4);
      const [web1, web2, host] = ["web1", "web2", "hv1"].map((n) => slotOf(plan, n));
      expect(Date.parse(web1!.end) - Date.parse(web1!.start)).toBe(15 * MINUTE);
      expect(Date.parse(host!.end) - Date.parse(host!.start)).toBe(20 * MINUTE);
      // One HA group: never at once.
      expect(Date.parse(web1!.end) <= Date.parse(web2!.start) || Date.parse(web2!.end) <= Date.parse(web1!.start)).toBe(true);
      expect(await ok<PlanCheckRecord[]>("GET", "/v1/plans/current/check")).toEqual([]);

      // The agent's next hello without maintenance.group takes the host out of scope; the cross-check follows.
      await hv1.close();
      hv1 = await agent(token, hello(), domains);
      expect((await ok<MachineRecord[]>("GET", "/v1/machines")).map((m) => m.id)).toEqual(["hv1/web1", "hv1/web2", "hv1/mon1"]);
      // An inventory whose VM lost its <maintenance> takes that VM out of scope.
      hv1.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [domains[0], sampleDomain("web2"), domains[2], domains[3]] });
      for (let i = 0; i < 100 && (await ok<MachineRecord[]>("GET", "/v1/machines")).length !== 2; i++) await sleep(20);
      expect((await ok<MachineRecord[]>("GET", "/v1/machines")).map((m) => m.id)).toEqual(["hv1/web1", "hv1/mon1"]);
    } finally {
      await hv1.close();
    }
  });
});

describe("a plan over 40 hosts and 200 VMs in 12 groups", () => {
  it("puts every machine in exactly one slot of its wave; the cross-check catches a machine added afterwards; ICS, webhooks, metrics", async () => {
    clock.set(Date.parse("2025-03-21T12:00:00Z")); // the Friday before the plan's week
    const fleet = generateFleet({ vms: 200, hosts: 40, groups: 12, seed: 7 });
    const hosts = fleet.machines.filter((m) => m.kind === "host");
    for (const h of hosts) await ok("POST", "/v1/hosts", { name: h.name }, 201);
    // The inventory as the hypervisors' agents would report it.
    const vmsOf = new Map<string, string[]>();
    for (const m of fleet.machines) if (m.kind === "vm") vmsOf.set(m.host, [...(vmsOf.get(m.host) ?? []), m.name]);
    const { store } = controller;
    // Two more VMs on a host that is not in scope itself (a hypervisor in scope would wait for them).
    const hv = "spare";
    await ok("POST", "/v1/hosts", { name: hv }, 201);
    vmsOf.set(hv, ["late-vm", "lonely-vm"]);
    store.transaction(() => {
      for (const [host, names] of vmsOf) store.domains.replaceInventory(store.hosts.findByName(host)!.id, names.map((n) => sampleDomain(n)), Date.now());
    });
    for (const { group, ...pref } of fleet.preferences) await ok("PUT", `/v1/windows/${group}`, pref);
    const expectedIds = new Map<string, string>();
    for (const m of fleet.machines) {
      const record = await machine(m.name, { kind: m.kind, group: m.group, roles: m.roles, tested: m.tested, haGroups: m.haGroups,
        estimatedMinutes: m.estimatedMinutes });
      expect(record.id).toBe(m.kind === "vm" ? `${m.host}/${m.name}` : m.name);
      expectedIds.set(record.id, m.group);
    }
    // In scope, but its group has no windows: reported, never dropped.
    await machine("lonely-vm", { group: "nowhere", roles: ["production"] });

    const spec = { ...(readPlanExample().spec as WaveSpecInput), name: "one/few;many, week 13" };
    const request: PlanRequest = { spec, run: RUN, start: "2025-03-24" };

    const dry = await ok<PlanRecord>("POST", "/v1/plans", { ...request, dryRun: true });
    expect([dry.id, dry.slots.length]).toEqual(["dry-run", 240]);
    expect(errorOf(await api("GET", "/v1/plans/current"))).toEqual([404, "NS_ERR_NO_PLAN"]);

    const plan = await ok<PlanRecord>("POST", "/v1/plans", request, 201);
    expect(plan.state).toBe("scheduled");
    expect(plan.weekStart).toBe("2025-03-23T23:00:00.000Z"); // Monday 00:00 in Berlin
    expect(plan.waves.map((w) => w.name)).toEqual(spec.waves.map((w) => w.name));
    // Every fleet machine exactly once; the one without windows unplaced with its reason.
    expect(plan.slots).toHaveLength(fleet.machines.length);
    expect(new Set(plan.slots.map((s) => s.machineId))).toEqual(new Set(expectedIds.keys()));
    for (const s of plan.slots) expect(s.group).toBe(expectedIds.get(s.machineId));
    expect(plan.unplaced.map((u) => [u.machineId, u.reason])).toEqual([[`${hv}/lonely-vm`, "no-preference"]]);
    // Each slot inside its wave's range, waves one after another.
    const waveOf = new Map(plan.waves.map((w) => [w.name, w]));
    for (const s of plan.slots) {
      const w = waveOf.get(s.wave)!;
      expect(Date.parse(s.start) >= Date.parse(w.start) && Date.parse(s.end) <= Date.parse(w.end), `${s.machineId} in ${s.wave}`).toBe(true);
    }
    for (const w of plan.waves) expect(w.slots).toBe(plan.slots.filter((s) => s.wave === w.name).length);
    expect((await ok<PlanRecord>("GET", "/v1/plans/current")).id).toBe(plan.id);

    let check = await ok<PlanCheckRecord[]>("GET", "/v1/plans/current/check");
    expect(check.map((c) => [c.machineId, c.problem, c.reason])).toEqual([[`${hv}/lonely-vm`, "no-slot", "no-preference"]]);
    await machine("late-vm", { group: "ops", roles: ["infrastructure"] });
    check = await ok<PlanCheckRecord[]>("GET", "/v1/plans/current/check");
    expect(check.map((c) => [c.machineId, c.problem, c.reason, c.detail])).toEqual([
      [`${hv}/lonely-vm`, "no-slot", "no-preference", "wave remainder: group nowhere has no maintenance preference"],
      [`${hv}/late-vm`, "no-slot", null, "not in the plan"],
    ]);

    // slots-assigned: one per group, with exactly that group's slots.
    const groups = new Set(plan.slots.map((s) => s.group));
    await hooks.until((r) => r.filter((n) => n.event === "slots-assigned").length === groups.size);
    for (const n of hooks.of("slots-assigned")) {
      const own = plan.slots.filter((s) => s.group === n.group);
      const slots = n.slots as { id: number; start: string; localStart: string }[];
      expect(slots.map((s) => s.id).sort((a, b) => a - b)).toEqual(own.map((s) => s.id).sort((a, b) => a - b));
      expect(n.plan).toEqual({ id: plan.id, name: spec.name });
    }
    const ops = hooks.of("slots-assigned").find((n) => n.group === "ops")!;
    expect(ops.timezone).toBe("Europe/Berlin");
    // Local times in the group's zone: Berlin is UTC+1 before the change to summer time on the 30th, UTC+2 after.
    const offsets = (ops.slots as { start: string; localStart: string }[])
      .map((s) => [s.start < "2025-03-30T01:00" ? 1 : 2, (Date.parse(`${s.localStart.replace(" ", "T")}:00Z`) - Date.parse(s.start)) / 3_600_000]);
    expect(new Set(offsets.map(([expected]) => expected))).toEqual(new Set([1, 2]));
    for (const [expected, actual] of offsets) expect(actual).toBe(expected);

    // iCalendar for "ops" (hosts and our own VMs), parsed back.
    const ics = await api("GET", `/v1/plans/current/ics?group=ops`);
    expect(ics.status).toBe(200);
    expect(ics.type).toMatch(/^text\/calendar/);
    const own = plan.slots.filter((s) => s.group === "ops");
    const events = checkCalendar(ics.text);
    expect(events).toHaveLength(own.length);
    for (const s of own) {
      const e = events.find((x) => x.uid === `${s.id}-${plan.id}@nightshift`)!;
      expect([e.start, e.end, e.summary]).toEqual([s.start, s.end, `Maintenance: ${s.name}`]);
      expect(e.description).toContain(`Wave ${s.wave} of plan one/few;many, week 13 (${plan.id}).`);
    }
    expect(errorOf(await api("GET", "/v1/plans/current/ics?group=unknown"))).toEqual([404, "NS_ERR_NO_GROUP"]);
    expect(errorOf(await api("GET", "/v1/plans/current/ics"))).toEqual([400, "NS_ERR_BAD_REQUEST"]);

    // Metrics, through promtool.
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
    const samples = metrics.split("\n").filter((l) => l.startsWith("nightshift_plan_slots{"));
    expect(samples.reduce((sum, l) => sum + Number(l.split(" ").pop()), 0)).toBe(240);
    const automation = plan.slots.filter((s) => s.wave === "automation").length;
    expect(metrics).toContain(`nightshift_plan_slots{wave="automation",state="scheduled"} ${automation}`);
    const nextOps = Math.min(...own.map((s) => Date.parse(s.start))) / 1000;
    expect(metrics).toContain(`nightshift_plan_next_slot_timestamp_seconds{group="ops"} ${nextOps}`);
    expect(metrics).toMatch(/^nightshift_plan_unplaced\{reason="no-preference"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_plan_paused 0$/m);

    // A new plan replaces this one while it has not started.
    const again = await ok<PlanRecord>("POST", "/v1/plans", request, 201);
    expect(again.id).not.toBe(plan.id);
    const replaced = await ok<PlanRecord>("GET", `/v1/plans/${plan.id}`);
    expect(replaced.state).toBe("cancelled");
    expect(new Set(replaced.slots.map((s) => s.state))).toEqual(new Set(["cancelled"]));
    expect((await ok<PlanRecord>("GET", "/v1/plans/current")).id).toBe(again.id);
  });
});

interface ParsedEvent { uid: string; start: string; end: string; summary: string; description: string }

/** RFC 5545 framing checked line by line, then the calendar parsed by ical.js. */
function checkCalendar(text: string): ParsedEvent[] {
  expect(text.endsWith("\r\n")).toBe(true);
  const lines = text.slice(0, -2).split("\r\n");
  for (const line of lines) {
    expect(line.includes("\n") || line.includes("\r"), "bare LF or CR").toBe(false);
    expect(Buffer.byteLength(line, "utf8"), line).toBeLessThanOrEqual(75);
  }
  expect(lines.some((l) => l.startsWith(" ")), "long lines are folded").toBe(true);
  const calendar = new ICAL.Component(ICAL.parse(text));
  expect(calendar.name).toBe("vcalendar");
  expect(calendar.getFirstPropertyValue("version")).toBe("2.0");
  expect(String(calendar.getFirstPropertyValue("prodid"))).toMatch(/nightshift/);
  return calendar.getAllSubcomponents("vevent").map((c) => {
    const e = new ICAL.Event(c);
    expect(c.getFirstPropertyValue("dtstamp")).toBeTruthy();
    expect(e.startDate.zone?.tzid).toBe("UTC");
    return { uid: e.uid, start: e.startDate.toJSDate().toISOString(), end: e.endDate.toJSDate().toISOString(), summary: e.summary, description: e.description };
  });
}

describe("executing a plan (the clock jumps to each wave)", () => {
  it("a wave whose failures spend its budget pauses the plan; the next wave waits; resume continues; a host slot is manual", async () => {
    const hv = await hypervisor("hv1", ["t1", "t2", "t3", "p1", "p2"]);
    hv.vms.get("t3")!.breaksOnPatch = true;
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    for (const n of ["t1", "t2", "t3"]) await machine(n, { group: "g", roles: ["test"], tested: true, estimatedMinutes: 2 });
    for (const n of ["p1", "p2"]) await machine(n, { group: "g", roles: ["production"], estimatedMinutes: 2 });
    await machine("hv1", { kind: "host", group: "g", roles: ["hypervisor"], estimatedMinutes: 3 });
    const m0 = nextMinute();
    const spec = { name: "week", maxParallelPerHost: 5, waves: waves(m0, [
      { name: "test", role: "test", failureBudget: 1 }, { name: "production", role: "production" }, { name: "hypervisors", role: "hypervisor" }]) };
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: RUN }, 201);
    expect(plan.slots.map((s) => [s.name, s.wave, s.start])).toEqual([
      ["t1", "test", iso(m0)], ["t2", "test", iso(m0)], ["t3", "test", iso(m0)],
      ["p1", "production", iso(m0 + 10 * MINUTE)], ["p2", "production", iso(m0 + 10 * MINUTE)],
      ["hv1", "hypervisors", iso(m0 + 20 * MINUTE)],
    ]);
    await sleep(300);
    expect(hv.steps).toHaveLength(0); // nothing before its time

    clock.set(m0 + 1_000);
    const paused = await waitPlan(plan.id, (p) => p.state === "paused", "pause after the test wave");
    const tested = await waitPlan(plan.id, (p) => p.slots.filter((s) => s.wave === "test").every((s) => TERMINAL.includes(s.state)), "test wave done");
    expect(states(tested)).toMatchObject({ t1: "done", t2: "done", t3: "failed", p1: "scheduled", p2: "scheduled", hv1: "scheduled" });
    expect(slotOf(tested, "t1").outcome).toBe("succeeded");
    expect(slotOf(tested, "t3").outcome).toMatch(/^rolled-back: verify failed/);
    expect(paused.pausedReason).toMatch(/^failure budget of wave test spent: 1 of 3 slot\(s\) failed \(budget 1\): t3 rolled-back/);
    expect(tested.waves.map((w) => w.state)).toEqual(["done", "blocked", "waiting"]);
    // Each VM slot was its own run of the template, without a canary.
    const run = await ok<RunDetail>("GET", `/v1/runs/${slotOf(tested, "t3").runId}`);
    expect([run.vms.map((v) => v.vm), run.spec.canary, run.spec.patch, run.name]).toEqual([["t3"], 0, RUN.patch, expect.stringMatching(/^plan .* slot \d+: week\/test/)]);
    expect(hv.vms.get("t3")!.version).toBe("v1");
    await hooks.until((r) => r.some((n) => n.event === "plan-paused"));
    expect(await (await fetch(`${controller.url}/metrics`)).text()).toMatch(/^nightshift_plan_paused 1$/m);

    // The production wave's time comes: paused, it does not start.
    clock.set(m0 + 10 * MINUTE + 1_000);
    await sleep(500);
    const held = await ok<PlanRecord>("GET", `/v1/plans/${plan.id}`);
    expect([slotOf(held, "p1").state, slotOf(held, "p2").state, held.state]).toEqual(["scheduled", "scheduled", "paused"]);
    expect(hv.steps.some((s) => s.action.vm === "p1" || s.action.vm === "p2")).toBe(false);

    const resumed = await ok<PlanRecord>("POST", "/v1/plans/current/resume");
    expect([resumed.state, resumed.pausedReason]).toEqual(["running", null]);
    const produced = await waitPlan(plan.id, (p) => p.waves[1]!.state === "done", "production wave done");
    expect([slotOf(produced, "p1").outcome, slotOf(produced, "p2").outcome]).toEqual(["succeeded", "succeeded"]);
    expect(hv.vms.get("p1")!.version).toBe("v2");

    // The hypervisor's slot: nightshift does not patch hosts; it is open for the operator, then done.
    clock.set(m0 + 20 * MINUTE + 1_000);
    const hostOpen = await waitPlan(plan.id, (p) => slotOf(p, "hv1").state === "running", "host slot open");
    expect([slotOf(hostOpen, "hv1").outcome, slotOf(hostOpen, "hv1").runId]).toEqual(["manual", null]);
    clock.set(m0 + 23 * MINUTE + 1_000);
    const finished = await waitPlan(plan.id, (p) => p.state === "finished", "plan finished");
    expect([slotOf(finished, "hv1").state, slotOf(finished, "hv1").outcome]).toEqual(["done", "manual"]);
    expect(finished.waves.map((w) => w.state)).toEqual(["done", "done", "done"]);
    expect(errorOf(await api("GET", "/v1/plans/current"))).toEqual([404, "NS_ERR_NO_PLAN"]);
  });

  it("a VM that needs attention pauses the plan; resume is refused until it is resolved", async () => {
    let revertFails = true;
    const hv = await hypervisor("hv1", ["x", "y"], {
      override: (action) => (revertFails && action.kind === "snapshot-revert" && action.vm === "x"
        ? { ok: false, code: "NS_ERR_STEP_LIBVIRT", message: "revert failed (simulated)" } : undefined),
    });
    hv.vms.get("x")!.breaksOnPatch = true;
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    await machine("x", { group: "g", roles: ["first"], estimatedMinutes: 2 });
    await machine("y", { group: "g", roles: ["second"], estimatedMinutes: 2 });
    const m0 = nextMinute();
    // A budget of 5: only the needs-attention rule can pause this plan.
    const spec = { name: "na", waves: waves(m0, [{ name: "first", role: "first", failureBudget: 5 }, { name: "second", role: "second" }]) };
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: RUN }, 201);

    clock.set(m0 + 1_000);
    const paused = await waitPlan(plan.id, (p) => p.state === "paused" && slotOf(p, "x").state === "failed", "pause for x");
    expect(slotOf(paused, "x").outcome).toMatch(/^needs-attention: rollback revert failed/);
    expect(paused.pausedReason).toMatch(/^hv1\/x \(wave first, run \S+\) needs attention/);

    const refused = await api<{ error: { code: string; message: string } }>("POST", "/v1/plans/current/resume");
    expect(errorOf(refused)).toEqual([409, "NS_ERR_PLAN_BLOCKED"]);
    expect(refused.json.error.message).toMatch(/hv1\/x .* needs attention/);

    // The operator repairs the VM and a run on it succeeds: it no longer needs attention.
    revertFails = false;
    hv.vms.get("x")!.breaksOnPatch = false;
    hv.vms.get("x")!.version = "v1";
    const { run } = await ok<{ run: RunDetail }>("POST", "/v1/runs", { spec: { ...RUN, vms: ["x"] } }, 201);
    for (let i = 0; (await ok<RunDetail>("GET", `/v1/runs/${run.id}`)).state !== "finished"; i++) {
      if (i > 400) throw new Error("repair run did not finish");
      await sleep(25);
    }
    expect((await ok<PlanRecord>("POST", "/v1/plans/current/resume")).state).toBe("running");
    clock.set(m0 + 10 * MINUTE + 1_000);
    const done = await waitPlan(plan.id, (p) => p.state === "finished", "plan finished");
    expect(states(done)).toEqual({ x: "failed", y: "done" });
  });

  it("a VM that needs attention pauses the plan; the operator's resolve (no new run) lets resume go on", async () => {
    const hv = await hypervisor("hv1", ["x", "y"], {
      override: (action) => (action.kind === "snapshot-revert" && action.vm === "x"
        ? { ok: false, code: "NS_ERR_STEP_LIBVIRT", message: "revert failed (simulated)" } : undefined),
    });
    hv.vms.get("x")!.breaksOnPatch = true;
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    await machine("x", { group: "g", roles: ["first"], estimatedMinutes: 2 });
    await machine("y", { group: "g", roles: ["second"], estimatedMinutes: 2 });
    const m0 = nextMinute();
    const spec = { name: "na-resolve", waves: waves(m0, [{ name: "first", role: "first", failureBudget: 5 }, { name: "second", role: "second" }]) };
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: RUN }, 201);
    clock.set(m0 + 1_000);
    const paused = await waitPlan(plan.id, (p) => p.state === "paused" && slotOf(p, "x").state === "failed", "pause for x");
    expect(paused.pausedReason).toMatch(/^hv1\/x .* needs attention: .*nightshift vm resolve hv1\/x/);
    expect(errorOf(await api("POST", "/v1/plans/current/resume"))).toEqual([409, "NS_ERR_PLAN_BLOCKED"]);

    await ok("POST", `/v1/vms/${encodeURIComponent("hv1/x")}/resolve`, { reason: "reverted by hand" });
    expect((await ok<PlanRecord>("POST", "/v1/plans/current/resume")).state).toBe("running");
    clock.set(m0 + 10 * MINUTE + 1_000);
    const done = await waitPlan(plan.id, (p) => p.state === "finished", "plan finished");
    expect(states(done)).toEqual({ x: "failed", y: "done" });
    // Only y's run: resolving started nothing on x.
    expect(hv.executed.filter((a) => a.kind === "guest-exec" && a.vm === "x" && a.command.startsWith("apt-get")).length).toBe(1);
  });

  it("goes on after a controller restart, announces once, and reminds before a slot, by webhook and by mail", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    await machine("a", { group: "g", roles: ["first"], estimatedMinutes: 2 });
    await machine("b", { group: "g", roles: ["second"], estimatedMinutes: 2 });
    const m0 = nextMinute();
    const spec = { name: "restart", waves: waves(m0, [{ name: "first", role: "first" }, { name: "second", role: "second" }]) };
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: RUN }, 201);
    await hooks.until((r) => r.some((n) => n.event === "slots-assigned"));

    await controller.close();
    controller = await start();
    await hv.disconnect();
    await hv.connect(controller.url, hv.token);

    clock.set(m0 + 1_000);
    await waitPlan(plan.id, (p) => slotOf(p, "a").state === "done", "a done after the restart");
    // b's reminder is due 5 min before it; a was announced less than 5 min before its slot, so it gets none.
    clock.set(m0 + 6 * MINUTE);
    await hooks.until((r) => r.some((n) => n.event === "slot-reminder"));
    const reminder = hooks.of("slot-reminder");
    expect(reminder).toHaveLength(1);
    expect((reminder[0]!.slots as { name: string }[]).map((s) => s.name)).toEqual(["b"]);
    expect(reminder[0]!.group).toBe("g");

    clock.set(m0 + 10 * MINUTE + 1_000);
    const done = await waitPlan(plan.id, (p) => p.state === "finished", "plan finished");
    expect(states(done)).toEqual({ a: "done", b: "done" });
    expect(hooks.of("slots-assigned")).toHaveLength(1);
    expect(hooks.of("slot-reminder")).toHaveLength(1);

    // The group's address got the same two notices by mail.
    const sent = mails();
    expect(sent.map((m) => m.args)).toEqual(["-t -i", "-t -i"]);
    expect(sent[0]!.message).toMatch(/^To: noc@g\.example\nSubject: Maintenance scheduled: 2 machine\(s\) of g\n/);
    expect(sent[0]!.message).toContain(`${iso(m0).slice(0, 16).replace("T", " ")} - ${iso(m0 + 2 * MINUTE).slice(0, 16).replace("T", " ")} UTC  a (vm, wave first)`);
    expect(sent[1]!.message).toMatch(/^To: noc@g\.example\nSubject: Reminder: maintenance of 1 machine\(s\) of g soon\n/);
    expect(sent[1]!.message).toContain(" b (vm, wave second)");
    expect(sent[1]!.message).not.toContain(" a (vm,");
  });

  it("a slot whose end passed while the plan was paused is skipped as missed, never started outside its window", async () => {
    const hv = await hypervisor("hv1", ["a"]);
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    await machine("a", { group: "g", roles: ["first"], estimatedMinutes: 2 });
    const m0 = nextMinute();
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec: { name: "late", waves: waves(m0, [{ name: "first", role: "first" }]) }, run: RUN }, 201);
    await ok("POST", "/v1/plans/current/pause");
    clock.set(m0 + 3 * MINUTE);
    await sleep(300);
    expect(slotOf(await ok<PlanRecord>("GET", `/v1/plans/${plan.id}`), "a").state).toBe("scheduled");
    await ok("POST", "/v1/plans/current/resume");
    const done = await waitPlan(plan.id, (p) => p.state === "finished", "plan finished");
    expect(slotOf(done, "a").state).toBe("skipped");
    expect(slotOf(done, "a").outcome).toBe(`missed: the slot ended (${iso(m0 + 2 * MINUTE).slice(0, 16)}Z) before it could start`);
    expect(hv.steps).toHaveLength(0);
  });

  it("operator pause and cancel; a new plan replaces one that has not started and is refused while one runs", async () => {
    await hypervisor("hv1", ["a", "b", "c"], { patchMs: 300 });
    await ok("PUT", "/v1/windows/g", ALWAYS_UTC);
    await machine("a", { group: "g", roles: ["first"], estimatedMinutes: 2 });
    for (const n of ["b", "c"]) await machine(n, { group: "g", roles: ["second"], estimatedMinutes: 2 });
    const m0 = nextMinute();
    const request = { spec: { name: "ops", waves: waves(m0, [{ name: "first", role: "first" }, { name: "second", role: "second" }]) }, run: RUN };
    const p1 = await ok<PlanRecord>("POST", "/v1/plans", request, 201);
    const p2 = await ok<PlanRecord>("POST", "/v1/plans", request, 201);
    expect((await ok<PlanRecord>("GET", `/v1/plans/${p1.id}`)).state).toBe("cancelled");

    const paused = await ok<PlanRecord>("POST", "/v1/plans/current/pause");
    expect([paused.id, paused.state, paused.pausedReason]).toEqual([p2.id, "paused", "paused by the operator"]);
    expect((await ok<PlanRecord>("POST", "/v1/plans/current/resume")).state).toBe("scheduled");

    clock.set(m0 + 1_000);
    await waitPlan(p2.id, (p) => slotOf(p, "a").state === "running", "a running");
    const active = await api<{ error: { code: string; message: string } }>("POST", "/v1/plans", request);
    expect(errorOf(active)).toEqual([409, "NS_ERR_PLAN_ACTIVE"]);
    expect(active.json.error.message).toMatch(/cancel it first/);

    await ok("POST", "/v1/plans/current/pause");
    const cancelled = await ok<PlanRecord>("POST", "/v1/plans/current/cancel");
    expect(cancelled.state).toBe("cancelled");
    expect([slotOf(cancelled, "b").state, slotOf(cancelled, "c").state]).toEqual(["cancelled", "cancelled"]);
    // The run in flight finishes, and its outcome is still recorded on the cancelled plan's slot.
    const recorded = await waitPlan(p2.id, (p) => slotOf(p, "a").state === "done", "a's outcome");
    expect(slotOf(recorded, "a").outcome).toBe("succeeded");
    expect(errorOf(await api("GET", "/v1/plans/current"))).toEqual([404, "NS_ERR_NO_PLAN"]);
    expect(errorOf(await api("POST", "/v1/plans/current/cancel"))).toEqual([404, "NS_ERR_NO_PLAN"]);
  });
});
