/**
 * A plan's slot end to end, all real: the controller and the agent as
 * processes, two QEMU guests on the system libvirtd. Both guests are in one
 * wave of a plan whose slots open at the next whole minute; when they open the
 * controller runs each guest's maintenance run (snapshot, patch, verify in the
 * guest through qemu-ga) and records the outcome on its slot. The patch writes
 * v2 to /data/version and, on the guest that has /data/fragile, breaks
 * /data/health, which verify reads: one slot is done (succeeded), the other
 * failed (rolled back to v1), and that spends the wave's failure budget, so
 * the plan pauses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { ensureGuestBuilt, guestDomainXml, prepareGuestDisk } from "../helpers/guest.js";
import { testPrefix } from "../helpers/libvirt.js";
import { startController, type TestController } from "../helpers/controller.js";
import { controllerApi } from "../helpers/controller-api.js";
import { waitForGuestAgent } from "../../agent/maintenance/agent-ping.js";
import { e2eLogs, guestShell, removeGuests, startE2eAgent, writeAgentConfig } from "../helpers/e2e-guests.js";
import { tempAgentDir, type AgentProcess } from "../integration/agent/daemon/agent-process.js";
import type { PlanRecord, SlotRecord } from "../../shared/plans.js";
import type { EvidenceRecord, RunDetail } from "../../shared/runs.js";

const prefix = testPrefix("plan");
const hostName = `plan-${randomBytes(3).toString("hex")}`;
const NAMES = ["a", "b"].map((s) => `${prefix}${s}`);
const [A, B] = NAMES as [string, string];
const PATCH = "echo v2 > /data/version && if [ -e /data/fragile ]; then echo broken > /data/health; fi; sync";
const VERIFY = "cat /data/health";
const MINUTE = 60_000;

let conn: LibvirtConnection;
let controller: TestController;
let agent: AgentProcess;
let agentDir: ReturnType<typeof tempAgentDir>;
let dataDir: string;
const doms: Record<string, DomainRef> = {};

const guestSh = (name: string, command: string) => guestShell(conn, doms[name]!, command);
const { api, ok } = controllerApi(() => controller);

async function waitPlan(id: string, done: (p: PlanRecord) => boolean, what: string, timeoutMs: number): Promise<PlanRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api<PlanRecord>("GET", `/v1/plans/${id}`).catch(() => ({ json: null }));
    if (json && done(json)) return json;
    if (Date.now() > deadline) {
      throw new Error(`plan ${id}: ${what} not within ${timeoutMs} ms: ${JSON.stringify(json, null, 1)}\n${await e2eLogs(agent, controller, NAMES)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  for (const name of NAMES) {
    const diskPath = await prepareGuestDisk(name, artifacts);
    const dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
    doms[name] = await conn.domainCreate(dom);
  }
  for (const name of NAMES) {
    await waitForGuestAgent(conn, doms[name]!, { timeoutMs: 30_000, intervalMs: 250 });
    await guestSh(name, `echo ok > /data/health${name === B ? " && touch /data/fragile" : ""}; sync`);
  }

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-plan-controller-"));
  controller = await startController({ dataDir, config: {
    agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "10s" }, plans: { tick: "1s" },
  } });
  const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: hostName }, 201);
  agentDir = tempAgentDir(token);
  const agentConfig = path.join(agentDir.dir, "agent.yaml");
  writeAgentConfig(agentConfig, [PATCH, VERIFY]);
  agent = startE2eAgent(controller, agentDir, hostName, agentConfig);
  await agent.waitForLibvirt();
  for (let i = 0; ; i++) {
    const { json: vms } = await api<{ name: string }[]>("GET", "/v1/vms");
    if (NAMES.every((n) => vms.some((v) => v.name === n))) break;
    if (i > 200) throw new Error(`agent's inventory not stored\n${agent.dump().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await removeGuests(conn, prefix, NAMES);
  agentDir?.cleanup();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("a plan's slot on real guests", { timeout: 240_000 }, () => {
  it("the slot opens, each guest's run executes, and the outcomes are recorded on the slots", async () => {
    await ok("PUT", "/v1/windows/customer", {
      timezone: "UTC", windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "00:00", end: "00:00" }],
    });
    for (const name of NAMES) await ok("PUT", `/v1/machines/${name}`, { group: "customer", roles: ["test"], tested: true, estimatedMinutes: 5 });
    // The wave starts at the next whole minute (slots are planned in minutes).
    const m0 = Math.ceil((Date.now() + 5_000) / MINUTE) * MINUTE;
    const spec = {
      name: "e2e", maxParallelPerHost: 2,
      waves: [{ name: "test", start: new Date(m0).toISOString(), end: new Date(m0 + 30 * MINUTE).toISOString(), failureBudget: 1, select: [{ role: "test" }] }],
    };
    const plan = await ok<PlanRecord>("POST", "/v1/plans", { spec, run: { patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" } } }, 201);
    expect(plan.slots.map((s) => [s.name, s.state, s.start])).toEqual(NAMES.map((n) => [n, "scheduled", new Date(m0).toISOString()]));

    const t0 = Date.now();
    const ended = await waitPlan(plan.id, (p) => p.slots.every((s) => s.state !== "scheduled" && s.state !== "running"), "both slots ended",
      m0 - Date.now() + 180_000);
    console.log(`slots opened at ${new Date(m0).toISOString()}; both ended ${Date.now() - Math.max(t0, m0)} ms after`);
    const slot = (name: string) => ended.slots.find((s) => s.name === name)!;
    expect([slot(A).state, slot(A).outcome]).toEqual(["done", "succeeded"]);
    expect(slot(B).state).toBe("failed");
    expect(slot(B).outcome).toMatch(/^rolled-back: verify failed/);

    // The slots' runs are real maintenance runs on the guests, started when the slot opened.
    for (const s of [slot(A), slot(B)] as SlotRecord[]) {
      const run = await ok<RunDetail>("GET", `/v1/runs/${s.runId}`);
      expect(run.vms.map((v) => [v.vm, v.host])).toEqual([[s.name, hostName]]);
      expect(Date.parse(run.createdAt)).toBeGreaterThanOrEqual(m0);
      const evidence = await ok<EvidenceRecord[]>("GET", `/v1/runs/${s.runId}/evidence`);
      expect(evidence.find((e) => e.step === "patch")!.command).toBe(`guest-exec /bin/sh -c ${JSON.stringify(PATCH)}`);
    }
    expect(await guestSh(A, "cat /data/version")).toBe("v2");
    expect(await guestSh(B, "cat /data/version")).toBe("v1");
    expect(await guestSh(B, "cat /data/health")).toBe("ok");

    // B's failure spent the wave's budget of 1: the plan pauses and says why.
    const paused = await waitPlan(plan.id, (p) => p.state === "paused", "plan paused", 10_000);
    expect(paused.pausedReason).toMatch(new RegExp(`^failure budget of wave test spent: 1 of 2 slot\\(s\\) failed .*${B} rolled-back`));
    expect(paused.waves[0]!.state).toBe("done");
  });
});
