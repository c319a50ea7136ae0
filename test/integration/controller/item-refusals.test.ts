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
