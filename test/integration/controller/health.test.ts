/**
 * Host health through the controller: health reports open, refresh and
 * resolve findings; unexpected VM stops become findings unless recorded;
 * all of it visible in the API and in /metrics (checked by promtool).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import type { HealthReport, MountFact, SystemdFact } from "../../../shared/protocol/findings.js";

let controller: RunningController;
let dataDir: string;
let admin: string;
let agent: TestAgent;

async function api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(controller.url + p, { method, headers: { Authorization: `Bearer ${admin}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as T };
}

interface F { code: string; subject: string; severity: string; remedy: string; resolvedAt: string | null; firstSeenAt: string; lastSeenAt: string; source: string }

const NFS_FINDING = {
  code: "NS_FSTAB_NETWORK_NO_NOFAIL", severity: "critical" as const, subject: "/srv/nas", probe: "fstab",
  message: "NFS mount /srv/nas has no nofail: a down server blocks boot",
  remedy: "nas01:/vmstore /srv/nas nfs defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0",
};

/** A report as an agent from before facts were keyed by probe sent it: `mounts` and `systemd` beside the findings. */
type PreviousReport = Omit<HealthReport, "facts"> & { mounts: MountFact[]; systemd: SystemdFact | null };

function report(findings: HealthReport["findings"], extra: Partial<PreviousReport> = {}): PreviousReport {
  return {
    collectedAt: new Date().toISOString(),
    probes: [{ name: "fstab", status: "ok", durationMs: 3.5 }, { name: "mounts", status: "ok", durationMs: 12 },
      { name: "systemd", status: "ok", durationMs: 40 }],
    findings,
    mounts: [
      { mountPoint: "/srv/nas", fstype: "nfs4", source: "nas01:/vmstore", state: "hung", inFstab: true, network: true },
      { mountPoint: "/", fstype: "ext4", source: "/dev/vda1", state: "up", inFstab: true, network: false },
    ],
    systemd: { state: "degraded", failedUnits: ["srv-nas.mount"], previousBootEmergency: true },
    ...extra,
  };
}

async function sendHealth(r: PreviousReport): Promise<void> {
  agent.send({ v: 1, type: "health", report: r });
  // The store writer commits in the next turn; the API then sees it.
  await new Promise((res) => setTimeout(res, 100));
}

const web = sampleDomain("web1");
function lifecycle(event: string, detail: string) {
  return { v: 1, type: "events", events: [{ id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle", event, detail }] };
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-health-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const { json } = await api<{ token: string }>("POST", "/v1/hosts", { name: "hv1" });
  agent = await TestAgent.connect(controller.url, json.token);
  agent.hello("hv1");
  await agent.next("welcome");
  agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [web] });
});

afterAll(async () => {
  await agent.close();
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("health reports", () => {
  it("open findings with first/last seen, and show mounts and systemd state in /metrics", async () => {
    await sendHealth(report([NFS_FINDING, { ...NFS_FINDING, code: "NS_MOUNT_HUNG", subject: "/srv/nas", probe: "mounts", remedy: "umount -l /srv/nas" }]));
    const { json } = await api<F[]>("GET", "/v1/findings?host=hv1");
    expect(json.map((f) => [f.code, f.subject, f.severity])).toEqual([
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/nas", "critical"], ["NS_MOUNT_HUNG", "/srv/nas", "critical"],
    ]);
    expect(json[0]!.remedy).toBe(NFS_FINDING.remedy);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toMatch(/^nightshift_finding\{host="hv1",code="NS_FSTAB_NETWORK_NO_NOFAIL",severity="critical",subject="\/srv\/nas"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_mount_hung\{host="hv1",mount_point="\/srv\/nas"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_mount_up\{host="hv1",mount_point="\/",fstype="ext4"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_systemd_state\{host="hv1",state="degraded"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_previous_boot_emergency\{host="hv1"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_probe_success\{host="hv1",probe="fstab"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_probe_duration_seconds\{host="hv1",probe="mounts"\} 0\.012$/m);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
  });

  it("refreshes a finding that stays, and resolves one that is gone", async () => {
    const before = (await api<F[]>("GET", "/v1/findings?host=hv1")).json.find((f) => f.code === "NS_FSTAB_NETWORK_NO_NOFAIL")!;
    await new Promise((r) => setTimeout(r, 20));
    await sendHealth(report([NFS_FINDING], { mounts: [] }));
    const open = (await api<F[]>("GET", "/v1/findings?host=hv1")).json;
    expect(open.map((f) => f.code)).toEqual(["NS_FSTAB_NETWORK_NO_NOFAIL"]);
    expect(open[0]!.firstSeenAt).toBe(before.firstSeenAt);
    expect(Date.parse(open[0]!.lastSeenAt)).toBeGreaterThan(Date.parse(before.lastSeenAt));
    const all = (await api<F[]>("GET", "/v1/findings?host=hv1&resolved=true")).json;
    expect(all.find((f) => f.code === "NS_MOUNT_HUNG")?.resolvedAt).not.toBeNull();
  });

  it("keeps a failed probe's findings open: it did not look, so nothing is resolved", async () => {
    await sendHealth(report([], { probes: [{ name: "fstab", status: "timeout", durationMs: 10_000 }] }));
    expect((await api<F[]>("GET", "/v1/findings?host=hv1")).json.map((f) => f.code)).toEqual(["NS_FSTAB_NETWORK_NO_NOFAIL"]);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toMatch(/^nightshift_probe_success\{host="hv1",probe="fstab"\} 0$/m);
    await sendHealth(report([]));
    expect((await api<F[]>("GET", "/v1/findings?host=hv1")).json).toEqual([]);
  });

  it("filters by severity and refuses an unknown one", async () => {
    await sendHealth(report([NFS_FINDING, { ...NFS_FINDING, code: "NS_FSTAB_NETWORK_NO_NETDEV", severity: "warning" }]));
    expect((await api<F[]>("GET", "/v1/findings?severity=warning")).json.map((f) => f.code)).toEqual(["NS_FSTAB_NETWORK_NO_NETDEV"]);
    const bad = await api<{ error: { code: string } }>("GET", "/v1/findings?severity=urgent");
    expect(bad.status).toBe(400);
  });
});

describe("unexpected VM stops", () => {
  it("a stop nobody recorded is a finding with libvirt's reason; a start resolves it", async () => {
    agent.send(lifecycle("stopped", "destroyed"));
    await agent.next("ack");
    const f = (await api<F[]>("GET", "/v1/findings?host=hv1")).json.find((x) => x.code === "NS_VM_UNEXPECTED_STOP")!;
    expect(f).toMatchObject({ subject: "web1", severity: "warning", source: "controller" });
    expect((f as unknown as { message: string }).message).toMatch(/libvirt: stopped\/destroyed/);
    agent.send(lifecycle("started", "booted"));
    await agent.next("ack");
    expect((await api<F[]>("GET", "/v1/findings?host=hv1")).json.find((x) => x.code === "NS_VM_UNEXPECTED_STOP")).toBeUndefined();
  });

  it("a crash is critical; recording the reason afterwards resolves it", async () => {
    agent.send(lifecycle("stopped", "crashed"));
    await agent.next("ack");
    expect((await api<F[]>("GET", "/v1/findings?host=hv1")).json.find((x) => x.code === "NS_VM_UNEXPECTED_STOP")?.severity).toBe("critical");
    const recorded = await api<{ resolvedFinding: boolean }>("POST", "/v1/vms/web1/expect-stop", { host: "hv1", reason: "kernel bug, ticket 12" });
    expect(recorded.status).toBe(201);
    expect(recorded.json.resolvedFinding).toBe(true);
    expect((await api<F[]>("GET", "/v1/findings?host=hv1")).json.find((x) => x.code === "NS_VM_UNEXPECTED_STOP")).toBeUndefined();
  });

  it("a stop inside a recorded window is not a finding; migrations never are", async () => {
    agent.send(lifecycle("stopped", "shutdown"));
    await agent.next("ack");
    agent.send(lifecycle("stopped", "migrated"));
    await agent.next("ack");
    const all = (await api<F[]>("GET", "/v1/findings?host=hv1&resolved=true")).json.filter((x) => x.code === "NS_VM_UNEXPECTED_STOP");
    expect(all.every((x) => x.resolvedAt !== null)).toBe(true);
    expect(all).toHaveLength(2);
  });

  it("a stop from a host whose clock is in the future is judged at its receipt: inside the recorded window, no finding", async () => {
    const future = lifecycle("stopped", "shutdown");
    future.events[0]!.time = "2999-01-01T00:00:00.000Z";
    agent.send(future);
    await agent.next("ack");
    const open = (await api<F[]>("GET", "/v1/findings?host=hv1")).json.filter((x) => x.code === "NS_VM_UNEXPECTED_STOP");
    expect(open).toEqual([]);
    // Nor does the VM's state claim to be from 2999.
    const vm = (await api<{ name: string; state: string; updatedAt: string }[]>("GET", "/v1/vms?host=hv1")).json.find((v) => v.name === "web1")!;
    expect(vm.state).toBe("shutoff");
    expect(Date.parse(vm.updatedAt)).toBeLessThanOrEqual(Date.now());
  });
});
