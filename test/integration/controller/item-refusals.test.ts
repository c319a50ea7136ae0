/**
 * One bad item never refuses its whole message: a controller on port 0 with a
 * real SQLite file, agents on real WebSockets sending inventories, event
 * batches and health reports in which one item breaks the protocol's limits.
 * The rest is stored, the bad item is refused on its own and said so (an
 * `error` to the agent, a finding or a history entry, a metric), and nothing
 * the agent must resend is left unacked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import type { EventRecord, FindingRecord, VmRecord } from "../../../shared/api.js";

let controller: RunningController;
let dataDir: string;
let admin: string;

async function get<T>(p: string): Promise<T> {
  const res = await fetch(controller.url + p, { headers: { Authorization: `Bearer ${admin}` } });
  if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function connected(host: string): Promise<TestAgent> {
  const res = await fetch(controller.url + "/v1/hosts", {
    method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: host }),
  });
  const { token } = (await res.json()) as { token: string };
  const agent = await TestAgent.connect(controller.url, token);
  agent.hello(host);
  await agent.next("welcome");
  return agent;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function disks(n: number) {
  return Array.from({ length: n }, (_, i) => ({ target: `sd${i}`, bus: "scsi", device: "disk", type: "file",
    source: `/var/lib/libvirt/images/wide-${i}.qcow2`, driverType: "qcow2", readonly: false, shareable: false }));
}

function inventory(domains: unknown[]) {
  return { v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains };
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-items-"));
  const config = ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir, agents: { heartbeat: "5s" } });
  controller = await startController(config, pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("an inventory with one bad VM", () => {
  it("stores every other VM, keeps the bad one's last stored state, and says which VM was refused and why", async () => {
    const agent = await connected("hv-inv");
    const web = sampleDomain("web1");
    const wide = { ...sampleDomain("wide"), disks: disks(2) };
    agent.send(inventory([web, wide]));
    await until("the first inventory", () => get<VmRecord[]>("/v1/vms?host=hv-inv"), (vms) => vms.length === 2);

    // An agent that does not truncate: 300 disks, beyond what one inventory entry may carry.
    agent.send(inventory([{ ...web, state: "paused", stateReason: "user" }, { ...wide, disks: disks(300), vcpus: 8 }, sampleDomain("db1")]));
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/1 of 3 domains refused.*domains\[1\] 'wide' \([0-9a-f-]{36}\): disks: Too big: expected array to have <=256 items/);
    const vms = await until("the second inventory", () => get<VmRecord[]>("/v1/vms?host=hv-inv"), (list) => list.length === 3);
    expect(vms.map((v) => [v.name, v.state])).toEqual([["db1", "running"], ["web1", "paused"], ["wide", "running"]]);
    // The refused VM is not dropped: what was stored before stays until a usable entry replaces it.
    expect(vms.find((v) => v.name === "wide")).toMatchObject({ vcpus: 2, disks: disks(2) });

    const findings = await get<FindingRecord[]>("/v1/findings?host=hv-inv");
    expect(findings).toEqual([expect.objectContaining({ code: "NS_INVENTORY_VM_REFUSED", subject: "wide", severity: "warning", source: "controller" })]);
    expect(findings[0]!.message).toMatch(/disks: Too big/);
    const metrics = await (await fetch(controller.url + "/metrics")).text();
    expect(metrics).toMatch(/^nightshift_agent_items_refused_total\{kind="domain"\} 1$/m);

    // A usable entry again: stored, and the finding resolves.
    agent.send(inventory([web, { ...wide, disks: disks(3) }]));
    await until("the VM's new disks", () => get<VmRecord[]>("/v1/vms?host=hv-inv"), (list) => list.find((v) => v.name === "wide")?.disks.length === 3);
    expect(await get<FindingRecord[]>("/v1/findings?host=hv-inv")).toEqual([]);
    await agent.close();
  });
});

async function refusedDomainsCounted(): Promise<number> {
  const metrics = await (await fetch(controller.url + "/metrics")).text();
  return Number(/^nightshift_agent_items_refused_total\{kind="domain"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

describe("an inventory with a null entry", () => {
  it("refuses that entry alone: the other VMs are stored, and an open stop of a VM still there stays open", async () => {
    const agent = await connected("hv-null");
    const web = sampleDomain("web1");
    const db = sampleDomain("db1");
    agent.send(inventory([web, db]));
    await until("the first inventory", () => get<VmRecord[]>("/v1/vms?host=hv-null"), (vms) => vms.length === 2);
    agent.send({ v: 1, type: "events", events: [{ id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: web.uuid,
      kind: "lifecycle", event: "stopped", detail: "destroyed" }] });
    await agent.next("ack");
    const counted = await refusedDomainsCounted();

    // Collected after the stop was reported: were web1 taken as gone from it, its stop would resolve. It is there, refused.
    agent.send(inventory([{ ...web, state: "shutoff", stateReason: "destroyed", disks: disks(300) }, null, { ...db, vcpus: 4 }]));
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/2 of 3 domains refused.*domains\[1\]: \(item\): Invalid input: expected object, received null/);
    const vms = await until("the second inventory", () => get<VmRecord[]>("/v1/vms?host=hv-null"), (list) => list.some((v) => v.vcpus === 4));
    expect(vms.map((v) => [v.name, v.state, v.vcpus])).toEqual([["db1", "running", 4], ["web1", "shutoff", 2]]);
    const findings = await get<FindingRecord[]>("/v1/findings?host=hv-null");
    expect(findings.map((f) => [f.code, f.subject]).sort()).toEqual([
      ["NS_INVENTORY_VM_REFUSED", "domains[1]"], ["NS_INVENTORY_VM_REFUSED", "web1"], ["NS_VM_UNEXPECTED_STOP", "web1"],
    ]);
    expect(await refusedDomainsCounted()).toBe(counted + 2);
    await agent.close();
  });
});

describe("an inventory with a VM whose two disks share a target", () => {
  it("refuses that VM alone, keeps its last stored state, and stores the others", async () => {
    const agent = await connected("hv-twin");
    const web = sampleDomain("web1");
    const twin = sampleDomain("twin");
    agent.send(inventory([web, twin]));
    await until("the first inventory", () => get<VmRecord[]>("/v1/vms?host=hv-twin"), (vms) => vms.length === 2);

    const vda = twin.disks[0]!;
    agent.send(inventory([{ ...web, state: "paused" }, { ...twin, vcpus: 8, disks: [vda, { ...vda, source: "/images/other.qcow2" }] }, sampleDomain("db1")]));
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/1 of 3 domains refused.*domains\[1\] 'twin' \([0-9a-f-]{36}\): disks\.1\.target: target 'vda' is also disks\[0\]'s/);
    const vms = await until("the second inventory", () => get<VmRecord[]>("/v1/vms?host=hv-twin"), (list) => list.length === 3);
    expect(vms.map((v) => [v.name, v.state])).toEqual([["db1", "running"], ["twin", "running"], ["web1", "paused"]]);
    expect(vms.find((v) => v.name === "twin")).toMatchObject({ vcpus: 2, disks: [vda] });
    const findings = await get<FindingRecord[]>("/v1/findings?host=hv-twin");
    expect(findings).toEqual([expect.objectContaining({ code: "NS_INVENTORY_VM_REFUSED", subject: "twin" })]);
    expect(findings[0]!.message).toMatch(/target 'vda' is also disks\[0\]'s/);
    await agent.close();
  });
});

describe("an inventory with two entries for one UUID, and two for one name", () => {
  it("refuses every entry of a duplicated UUID or name (which is the VM cannot be told), keeps their stored state, stores the rest", async () => {
    const agent = await connected("hv-dup");
    const web = sampleDomain("web1");
    const db = sampleDomain("db1");
    const app = sampleDomain("app1");
    agent.send(inventory([web, db, app]));
    await until("the first inventory", () => get<VmRecord[]>("/v1/vms?host=hv-dup"), (vms) => vms.length === 3);
    const counted = await refusedDomainsCounted();

    agent.send(inventory([
      { ...web, state: "paused" }, { ...web, name: "web1-impostor", vcpus: 16 },
      { ...db, vcpus: 4 }, sampleDomain("db1"),
      { ...app, state: "paused" },
    ]));
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/4 of 5 domains refused/);
    expect(err.message).toContain(`domains[1] 'web1-impostor' (${web.uuid}): uuid: ${web.uuid} is the UUID of 2 entries (domains[0], domains[1])`);
    expect(err.message).toMatch(/domains\[3\] 'db1' \([0-9a-f-]{36}\): name: 'db1' is the name of 2 entries \(domains\[2\], domains\[3\]\)/);
    const vms = await until("the second inventory", () => get<VmRecord[]>("/v1/vms?host=hv-dup"), (list) => list.some((v) => v.name === "app1" && v.state === "paused"));
    expect(vms.map((v) => [v.name, v.uuid, v.state, v.vcpus])).toEqual([
      ["app1", app.uuid, "paused", 2], ["db1", db.uuid, "running", 2], ["web1", web.uuid, "running", 2],
    ]);
    const findings = await get<FindingRecord[]>("/v1/findings?host=hv-dup");
    expect(findings.map((f) => f.subject)).toEqual(["db1", "web1", "web1-impostor"]);
    expect(findings.every((f) => f.code === "NS_INVENTORY_VM_REFUSED")).toBe(true);
    expect(await refusedDomainsCounted()).toBe(counted + 4);

    // Unique again: stored, and the findings resolve.
    agent.send(inventory([{ ...web, state: "paused" }, { ...db, vcpus: 4 }, app]));
    await until("the third inventory", () => get<VmRecord[]>("/v1/vms?host=hv-dup"), (list) => list.some((v) => v.name === "db1" && v.vcpus === 4));
    expect(await get<FindingRecord[]>("/v1/findings?host=hv-dup")).toEqual([]);
    await agent.close();
  });
});

describe("an events batch with one bad event", () => {
  it("stores the 999 others, records the bad one in the history, and acks all 1000 so the agent's spool lets go", async () => {
    const agent = await connected("hv-ev");
    const web = sampleDomain("web1");
    agent.send(inventory([web]));
    const now = Date.now();
    const events = Array.from({ length: 1000 }, (_, i) => ({
      id: randomUUID(), time: new Date(now + i).toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle",
      event: i % 2 === 0 ? "stopped" : "started", detail: i === 500 ? "x".repeat(100) : "booted",
    }));
    agent.send({ v: 1, type: "events", events });
    const ack = await agent.next("ack");
    expect(ack.ids).toEqual(events.map((e) => e.id));
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(new RegExp(`1 of 1000 events refused.*events\\[500\\] ${events[500]!.id}: detail: Too big`));

    const history = await get<EventRecord[]>("/v1/events?host=hv-ev&limit=5000");
    const lifecycle = history.filter((e) => e.kind === "lifecycle");
    expect(lifecycle).toHaveLength(999);
    const refused = history.filter((e) => e.event === "event-refused");
    expect(refused).toEqual([expect.objectContaining({ id: events[500]!.id, kind: "host", vm: "web1", uuid: web.uuid })]);
    expect(refused[0]!.data).toMatchObject({ problem: expect.stringMatching(/detail: Too big/) as unknown });
    expect(JSON.parse((refused[0]!.data as { event: string }).event)).toEqual(events[500]);

    // Redelivered (the agent did not see the ack): acked again, nothing stored twice.
    agent.send({ v: 1, type: "events", events });
    expect((await agent.next("ack")).ids).toHaveLength(1000);
    await agent.next("error");
    expect(await get<EventRecord[]>("/v1/events?host=hv-ev&limit=5000")).toHaveLength(history.length);
    const metrics = await (await fetch(controller.url + "/metrics")).text();
    expect(metrics).toMatch(/^nightshift_agent_items_refused_total\{kind="event"\} 2$/m);
    await agent.close();
  });

  it("an event without a usable id cannot be acked: the others are stored and acked, the error says so", async () => {
    const agent = await connected("hv-noid");
    const good = { id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: randomUUID(), kind: "reboot" };
    agent.send({ v: 1, type: "events", events: [good, { ...good, id: "short" }] });
    expect((await agent.next("ack")).ids).toEqual([good.id]);
    const err = await agent.next("error");
    expect(err.message).toMatch(/events\[1\]: id: Too small.*it cannot be acked/);
    const history = await get<EventRecord[]>("/v1/events?host=hv-noid");
    expect(history.filter((e) => e.kind === "reboot").map((e) => e.id)).toEqual([good.id]);
    await agent.close();
  });
});

describe("a health report with one bad finding", () => {
  it("stores the other findings, mounts and probe runs, and opens a finding that names the refused item", async () => {
    const agent = await connected("hv-health");
    const finding = { code: "NS_FSTAB_NETWORK_NO_NOFAIL", severity: "critical", subject: "/srv/nas", probe: "fstab",
      message: "NFS mount /srv/nas has no nofail", remedy: "nas01:/vmstore /srv/nas nfs defaults,nofail 0 0" };
    const deep = `/srv/${"d".repeat(600)}`;
    agent.send({ v: 1, type: "health", report: {
      collectedAt: new Date().toISOString(),
      probes: [{ name: "fstab", status: "ok", durationMs: 1 }, { name: "mounts", status: "ok", durationMs: 2 }],
      findings: [finding, { ...finding, code: "NS_MOUNT_HUNG", subject: deep, probe: "mounts" }],
      mounts: [{ mountPoint: "/srv/nas", fstype: "nfs4", source: "nas01:/vmstore", state: "up", inFstab: true, network: true }],
      systemd: null,
    } });
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/health: 1 item refused.*findings\[1\] NS_MOUNT_HUNG: subject: Too big/);
    const findings = await until("the stored findings", () => get<FindingRecord[]>("/v1/findings?host=hv-health"), (list) => list.length === 2);
    expect(findings.map((f) => [f.code, f.subject, f.source])).toEqual([
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/nas", "agent"],
      ["NS_HEALTH_ITEM_REFUSED", "health report", "controller"],
    ]);
    expect(findings[1]!.message).toMatch(/findings\[1\] NS_MOUNT_HUNG/);
    const metrics = await (await fetch(controller.url + "/metrics")).text();
    expect(metrics).toMatch(/^nightshift_agent_items_refused_total\{kind="finding"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_mount_up\{host="hv-health",mount_point="\/srv\/nas",fstype="nfs4"\} 1$/m);
    await agent.close();
  });
});
