/**
 * Probe facts end to end: the agent's own probe runner on a host tree (the
 * kernel fixtures, through the tree's recorded commands as `check --root`
 * does), its health reporter fitting and sending the report over a real
 * WebSocket, and a controller on port 0 with a real SQLite file checking each
 * fact against its spec, storing it, and exporting its gauges in /metrics —
 * also after a restart. Then facts in the shape the controller must refuse
 * part of, one fact at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { REPO_ROOT } from "../../helpers/run.js";
import { HealthReporter } from "../../../agent/daemon/health-reporter.js";
import { HostRoot } from "../../../agent/probes/host-root.js";
import { PROBES } from "../../../agent/probes/index.js";
import { recordedCommands } from "../../../agent/probes/recorded-commands.js";
import { runProbes, selectProbes } from "../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../agent/probes/settings.js";
import { encodeMessage } from "../../../shared/protocol/codec.js";
import type { FindingRecord } from "../../../shared/api.js";
import type { Welcome } from "../../../shared/protocol/messages.js";

const log = pino({ level: "silent" });
const fixture = (name: string) => path.join(REPO_ROOT, "test/fixtures/hosts", name);
let controller: RunningController;
let dataDir: string;
let admin: string;
let token: string;

async function startHere(): Promise<void> {
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), log);
}

async function connected(): Promise<{ agent: TestAgent; welcome: Welcome }> {
  const agent = await TestAgent.connect(controller.url, token);
  agent.hello("hv1");
  return { agent, welcome: await agent.next("welcome") };
}

async function metrics(): Promise<string> {
  return (await fetch(`${controller.url}/metrics`)).text();
}

async function findings(): Promise<FindingRecord[]> {
  const res = await fetch(`${controller.url}/v1/findings?host=hv1`, { headers: { Authorization: `Bearer ${admin}` } });
  return (await res.json()) as FindingRecord[];
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

/** The agent's health reporter, probing `tree` with every default probe, for one round on one session. */
async function reportFrom(tree: string): Promise<void> {
  const { agent, welcome } = await connected();
  const root = new HostRoot(tree);
  const settings = ProbeSettingsSchema.parse({});
  const reporter = new HealthReporter({
    intervalSeconds: 3600, logger: log,
    run: () => runProbes(selectProbes(PROBES, settings), { root, commands: recordedCommands(root), settings, libvirt: null, log, now: () => new Date() }),
  });
  reporter.sessionStarted({
    welcome,
    send: (message) => {
      agent.ws.send(encodeMessage(message));
      return true;
    },
  });
  await reporter.settled();
  reporter.stop();
  // The store writer commits in a later turn.
  await new Promise((r) => setTimeout(r, 150));
  await agent.close();
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-probe-facts-"));
  await startHere();
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const res = await fetch(`${controller.url}/v1/hosts`, {
    method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: "hv1" }),
  });
  token = ((await res.json()) as { token: string }).token;
});

afterAll(async () => {
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("the kernel probe, agent to controller to metric", () => {
  it("a host with a newer kernel installed: nightshift_host_reboot_required 1 and its finding; every other probe's fact too", async () => {
    await reportFrom(fixture("kernel-reboot-pending"));
    const text = await until("the reboot gauge", metrics, (t) => t.includes("nightshift_host_reboot_required{"));
    expect(text).toMatch(/^nightshift_host_reboot_required\{host="hv1"\} 1$/m);
    expect(text).toMatch(/^nightshift_finding\{host="hv1",code="NS_HOST_KERNEL_REBOOT_PENDING",severity="warning",subject="kernel"\} 1$/m);
    expect(text).toMatch(/^nightshift_probe_success\{host="hv1",probe="kernel"\} 1$/m);
    // The tree has no systemd: the systemd probe's fact says so, through the same registry.
    expect(text).toMatch(/^nightshift_systemd_state\{host="hv1",state="absent"\} 1$/m);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
    const open = await findings();
    expect(open.map((f) => [f.code, f.probe, f.severity, f.source])).toEqual([["NS_HOST_KERNEL_REBOOT_PENDING", "kernel", "warning", "agent"]]);
    expect(open[0]!.message).toContain("runs kernel 6.1.0-18-amd64, but 6.1.0-20-amd64 is installed");
  });

  it("keeps the facts across a controller restart (probe_facts)", async () => {
    await controller.close();
    await startHere();
    expect(await metrics()).toMatch(/^nightshift_host_reboot_required\{host="hv1"\} 1$/m);
  });

  it("after the reboot, on its newest kernel: the gauge is 0 and the finding resolved", async () => {
    await reportFrom(fixture("kernel-current"));
    const text = await until("the gauge at 0", metrics, (t) => /^nightshift_host_reboot_required\{host="hv1"\} 0$/m.test(t));
    expect(text).not.toMatch(/NS_HOST_KERNEL_REBOOT_PENDING/);
    expect(await findings()).toEqual([]);
  });

  it("a tree where the kernel probe has nothing to look at: no fact, so no gauge", async () => {
    await reportFrom(fixture("healthy"));
    const text = await until("the gauge gone", metrics, (t) => !t.includes("nightshift_host_reboot_required{"));
    expect(text).toMatch(/^nightshift_probe_success\{host="hv1",probe="kernel"\} 1$/m);
    // healthy's mounts, from its mountinfo and recorded answers, through facts.mounts.
    expect(text).toMatch(/^nightshift_mount_up\{host="hv1",mount_point="\/srv\/nas",fstype="nfs4"\} 1$/m);
    expect(text).toMatch(/^nightshift_systemd_state\{host="hv1",state="running"\} 1$/m);
    expect(text).toMatch(/^nightshift_previous_boot_emergency\{host="hv1"\} 0$/m);
  });
});

describe("facts the controller refuses, one at a time", () => {
  it("takes the good facts and mounts, refuses a bad mount, a bad kernel fact and a fact no probe reports, and says which", async () => {
    const { agent } = await connected();
    const good = { mountPoint: "/srv/nas", fstype: "nfs4", source: "nas01:/vmstore", state: "hung", inFstab: true, network: true };
    agent.send({ v: 1, type: "health", report: {
      collectedAt: new Date().toISOString(), probes: [{ name: "mounts", status: "ok", durationMs: 1 }], findings: [],
      facts: {
        mounts: [good, { ...good, mountPoint: "/srv/other", state: "sideways" }],
        systemd: { state: "degraded", failedUnits: ["srv-nas.mount"], previousBootEmergency: null },
        kernel: { running: "6.1.0-18-amd64", rebootNeeded: "yes" },
        nosuch: { anything: 1 },
      },
    } });
    const err = await agent.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_ITEM");
    expect(err.message).toMatch(/health: 3 items refused/);
    expect(err.message).toContain("facts.mounts[1] /srv/other: state:");
    expect(err.message).toContain("facts.kernel: ");
    expect(err.message).toContain("facts.nosuch nosuch: no probe this controller knows reports a fact named 'nosuch'");
    const text = await until("the stored mount", metrics, (t) => t.includes('nightshift_mount_hung{host="hv1",mount_point="/srv/nas"} 1'));
    expect(text).not.toContain('mount_point="/srv/other"');
    expect(text).toMatch(/^nightshift_systemd_state\{host="hv1",state="degraded"\} 1$/m);
    expect(text).not.toMatch(/^nightshift_previous_boot_emergency\{host="hv1"\}/m);
    expect(text).not.toContain("nightshift_host_reboot_required{");
    for (const kind of ["mount", "kernel", "fact"]) expect(text).toMatch(new RegExp(`^nightshift_agent_items_refused_total\\{kind="${kind}"\\} 1$`, "m"));
    const refused = (await findings()).find((f) => f.code === "NS_HEALTH_ITEM_REFUSED");
    expect(refused?.message).toContain("facts.kernel");
    await agent.close();
  });
});
