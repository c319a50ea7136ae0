/**
 * The run engine's rules over real WebSocket connections and a real SQLite
 * file, with simulated hypervisors answering the steps: outcomes, evidence,
 * canaries, failure budget, parallelism, abort, an agent lost mid-step, a
 * controller restarted mid-patch, retention. (Real guests: test/e2e/runs.)
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import Database from "better-sqlite3";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import type { SimulatedHypervisor } from "../../helpers/simulated-hypervisor.js";
import { controllerApi, type EnrolledHypervisor } from "../../helpers/controller-api.js";
import type { EvidenceRecord, RunDetail, RunPlan, RunSpecInput, SnapshotRecord } from "../../../shared/runs.js";
import { describeProcedure, procedureSteps } from "../../../controller/runs/procedure.js";
import { VM_PROCEDURE } from "../../../controller/runs/vm-phases.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
const hypervisors: SimulatedHypervisor[] = [];

const baseConfig = (extra: Record<string, unknown> = {}) => ControllerConfigSchema.parse({
  listen: "127.0.0.1:0", dataDir, agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "2s" },
  retention: { schedule: "0 0 1 1 *" }, ...extra,
});

const { api, hypervisor } = controllerApi(() => ({ url: controller.url, adminToken }), hypervisors);

async function startRun(spec: RunSpecInput): Promise<RunDetail> {
  const { status, json } = await api<{ run: RunDetail }>("POST", "/v1/runs", { spec });
  if (status !== 201) throw new Error(`start failed: ${status} ${JSON.stringify(json)}`);
  return json.run;
}

async function waitFinished(id: string, timeoutMs = 15_000): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api<RunDetail>("GET", `/v1/runs/${id}`);
    if (json.state === "finished") return json;
    if (Date.now() > deadline) throw new Error(`run ${id} not finished: ${JSON.stringify(json, null, 1)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function waitPhase(id: string, phase: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    const { json } = await api<RunDetail>("GET", `/v1/runs/${id}`);
    if (json.vms[0]!.phase === phase) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`run ${id} never reached phase ${phase}`);
}

/**
 * Restarts the controller on the same data directory and reconnects the hypervisor (an agent that
 * stayed up, so it still has its executions); returns once the new controller asked it something.
 */
async function restartController(hv: EnrolledHypervisor): Promise<void> {
  await controller.close();
  controller = await startController(baseConfig(), pino({ level: "silent" }));
  await hv.disconnect();
  const asked = hv.steps.length;
  await hv.connect(controller.url, hv.token);
  for (let i = 0; i < 200 && hv.steps.length === asked; i++) await new Promise((r) => setTimeout(r, 10));
}

const outcomes = (run: RunDetail) => Object.fromEntries(run.vms.map((v) => [v.vm, v.outcome]));
const spec = (vms: string[], extra: Partial<RunSpecInput> = {}): RunSpecInput => ({
  vms, patch: { exec: "apt-get -y upgrade" }, verify: { exec: "cat /data/version", outputPattern: "v[0-9]+" }, ...extra,
});

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-runs-"));
  controller = await startController(baseConfig(), pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterEach(async () => {
  for (const hv of hypervisors) await hv.disconnect();
  hypervisors.length = 0;
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("maintenance runs (simulated hypervisors)", () => {
  it("patches, verifies and keeps snapshots; rolls back the VM whose verify fails; evidence has every step", async () => {
    const hv = await hypervisor("hv1", ["a", "b", "c"]);
    hv.vms.get("c")!.breaksOnPatch = true;
    const run = await startRun(spec(["a", "b", "c"], { maxFailures: 2 }));
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded", b: "succeeded", c: "rolled-back" });
    expect(hv.vms.get("c")!.version).toBe("v1");
    expect(hv.vms.get("a")!.version).toBe("v2");
    expect(done.vms.find((v) => v.vm === "c")!.reason).toMatch(/verify failed/);

    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    const forC = evidence.filter((e) => e.vm === "c").map((e) => `${e.step}/${e.check} ${e.result}`);
    expect(forC).toEqual(expect.arrayContaining(["precheck/exec PASS", "snapshot/create PASS", "patch/exec PASS", "verify/exec FAIL",
      "rollback/revert PASS", "rollback/exec PASS", "outcome/rolled-back FAIL"]));
    const verifyFail = evidence.find((e) => e.vm === "c" && e.step === "verify" && e.check === "exec")!;
    expect(verifyFail.command).toBe('guest-exec /bin/sh -c "cat /data/version"');
    expect(verifyFail.output).toContain("broken");

    const { json: snaps } = await api<SnapshotRecord[]>("GET", "/v1/snapshots");
    expect(snaps.map((s) => s.vm).sort()).toEqual(["a", "b", "c"]);
    for (const s of snaps) {
      expect(s.name).toBe(`nightshift-${run.id}-${s.vm}`);
      const keep = Date.parse(s.expiresAt!) - Date.parse(s.createdAt);
      expect(keep).toBeGreaterThan(3 * 86_400_000 - 60_000);
      expect(keep).toBeLessThan(3 * 86_400_000 + 60_000);
    }
  });

  it("a VM that fails a pre-check is skipped untouched", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    hv.vms.get("b")!.version = "corrupt";
    const run = await startRun(spec(["a", "b"]));
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded", b: "skipped" });
    expect(hv.vms.get("b")!.version).toBe("corrupt");
    expect(hv.vms.get("b")!.snapshots.size).toBe(0);
    expect(done.vms.find((v) => v.vm === "b")!.reason).toMatch(/pre-check verify failed.*nothing was changed/);
  });

  it("a raw file disk: internal mode skips the VM, disk-only-quiesce patches it and counts no memory; without the agent's disk-only fields the internal rule applies", async () => {
    // "old" answers inspect as an agent from before the disk-only fields did.
    const legacyInspect = { uuid: "00000000-0000-0000-0000-000000000000", state: "running", stateReason: "booted", persistent: true,
      memoryKiB: 1024, disks: [{ target: "vda", type: "file", device: "disk", driverType: "raw", source: "/images/old.img",
        snapshotable: false, reason: "raw image: internal snapshots need qcow2" }], passthrough: [], snapshots: [], guestAgent: true };
    const hv = await hypervisor("hv1", ["q", "r", "old"], {
      override: (a) => a.kind === "inspect" && a.vm === "old" ? { ok: true, result: legacyInspect } : undefined,
    });
    hv.vms.get("r")!.rawDisk = true;
    const diskSpaceSteps = () => hv.steps.filter((s) => s.action.kind === "disk-space").map((s) => s.action);

    const internal = await waitFinished((await startRun(spec(["q", "r"]))).id);
    expect(outcomes(internal)).toEqual({ q: "succeeded", r: "skipped" });
    expect(internal.vms.find((v) => v.vm === "r")!.reason)
      .toMatch(/^pre-check VM: cannot be snapshotted, .*disk vdb \(\/images\/r-data\.img\): raw image: internal snapshots need qcow2/);
    expect(hv.vms.get("r")!).toMatchObject({ version: "v1", snapshots: new Map() });
    expect(diskSpaceSteps()).toEqual([{ kind: "disk-space", vm: "q", headroomFraction: 0.1, mode: "internal" }]);

    const { json: dry } = await api<{ plan: RunPlan }>("POST", "/v1/runs",
      { spec: spec(["r"], { snapshotMode: "disk-only-quiesce" }), dryRun: true });
    expect(dry.plan.vms[0]!.steps[0]).toMatch(/disks snapshotable \(disk-only: writable file disks, raw or qcow2\);.*room for the snapshot \(0\.1 x disk size\)/);

    const diskOnly = await waitFinished((await startRun(spec(["r", "old"], { snapshotMode: "disk-only-quiesce" }))).id);
    expect(outcomes(diskOnly)).toEqual({ r: "succeeded", old: "skipped" });
    expect(hv.vms.get("r")!.version).toBe("v2");
    expect(hv.vms.get("r")!.snapshots.size).toBe(1);
    expect(diskOnly.vms.find((v) => v.vm === "old")!.reason)
      .toMatch(/^pre-check VM: cannot be snapshotted, .*disk vda \(\/images\/old\.img\): raw image/);
    expect(diskSpaceSteps().slice(1)).toEqual([{ kind: "disk-space", vm: "r", headroomFraction: 0.1, mode: "disk-only-quiesce" }]);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${diskOnly.id}/evidence`);
    const space = evidence.find((e) => e.vm === "r" && e.step === "precheck" && e.check === "disk-space")!;
    expect(space.result).toBe("PASS");
    expect(space.output).toBe("vda /images/r.qcow2: 9537 MiB free, 95 MiB needed\nvdb /images/r-data.img: 9537 MiB free, 95 MiB needed");
  });

  it("a canary failure halts the run: the others are aborted, never touched", async () => {
    const hv = await hypervisor("hv1", ["a", "b", "c"]);
    hv.vms.get("a")!.breaksOnPatch = true;
    const run = await startRun(spec(["a", "b", "c"], { canary: 1, maxFailures: 5 }));
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "rolled-back", b: "aborted", c: "aborted" });
    expect(done.haltReason).toBe("canary a rolled-back");
    expect(hv.steps.some((s) => s.action.vm !== "a")).toBe(false);
  });

  it("canaries go one at a time, then max-parallel and the per-host limit hold", async () => {
    const names = ["a", "b", "c", "d", "e", "f"];
    const hv1 = await hypervisor("hv1", names.slice(0, 4), { patchMs: 150 });
    await hypervisor("hv2", names.slice(4), { patchMs: 150 });
    const run = await startRun(spec(["a", "b", "e", "c", "d", "f"], { canary: 2, maxParallel: 3, maxParallelPerHost: 2 }));
    let maxAll = 0;
    let maxHv1 = 0;
    let canaryOverlap = false;
    for (;;) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${run.id}`);
      const flying = json.vms.filter((v) => v.outcome === null && v.phase !== "pending");
      maxAll = Math.max(maxAll, flying.length);
      maxHv1 = Math.max(maxHv1, flying.filter((v) => v.host === "hv1").length);
      if (flying.some((v) => v.canary) && flying.length > 1) canaryOverlap = true;
      if (json.state === "finished") {
        expect(Object.values(outcomes(json)).every((o) => o === "succeeded")).toBe(true);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(canaryOverlap).toBe(false);
    expect(maxAll).toBe(3);
    expect(maxHv1).toBe(2);
    expect([...hv1.vms.values()].every((v) => v.version === "v2")).toBe(true);
  });

  it("the failure budget stops new VMs once spent", async () => {
    const hv = await hypervisor("hv1", ["a", "b", "c", "d"]);
    for (const n of ["a", "b", "c", "d"]) hv.vms.get(n)!.breaksOnPatch = true;
    const run = await startRun(spec(["a", "b", "c", "d"], { canary: 0, maxParallel: 1, maxFailures: "50%" }));
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "rolled-back", b: "rolled-back", c: "aborted", d: "aborted" });
    expect(done.haltReason).toMatch(/failure budget spent: 2 of 4/);
  });

  it("abort stops new VMs while the one in flight finishes", async () => {
    await hypervisor("hv1", ["a", "b", "c"], { patchMs: 600 });
    const run = await startRun(spec(["a", "b", "c"], { canary: 0, maxParallel: 1 }));
    for (;;) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${run.id}`);
      if (json.vms[0]!.phase === "patch") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const { status } = await api("POST", `/v1/runs/${run.id}/abort`);
    expect(status).toBe(200);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded", b: "aborted", c: "aborted" });
    expect(done.haltReason).toBe("aborted by the operator");
  });

  it("an agent lost mid-patch makes the VM need attention and halts the run", async () => {
    const hv = await hypervisor("hv1", ["a", "b"], { patchMs: 60_000 });
    const run = await startRun(spec(["a", "b"], { canary: 0, maxParallel: 1, maxFailures: 5 }));
    for (;;) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${run.id}`);
      if (json.vms[0]!.phase === "patch") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const started = Date.now();
    await hv.disconnect();
    const done = await waitFinished(run.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(outcomes(done)).toEqual({ a: "needs-attention", b: "aborted" });
    expect(done.vms[0]!.reason).toMatch(/agent lost during the patch.*not connected for 2 s/);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toContain(`nightshift_vm_needs_attention{host="hv1",vm="a",run="${run.id}"} 1`);
  });

  it("a controller restarted mid-patch resumes: the patch in flight is attached to, the run completes", async () => {
    const hv = await hypervisor("hv1", ["a", "b"], { patchMs: 1_500 });
    const run = await startRun(spec(["a", "b"], { canary: 0, maxParallel: 2 }));
    for (;;) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${run.id}`);
      if (json.vms.every((v) => v.phase === "patch")) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await controller.close();
    controller = await startController(baseConfig(), pino({ level: "silent" }));
    await hv.disconnect();
    await hv.connect(controller.url, hv.token);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded", b: "succeeded" });
    // Each patch ran exactly once: the resumed request attached to the execution in flight.
    const patches = hv.steps.filter((s) => s.action.kind === "guest-exec" && s.action.command === "apt-get -y upgrade");
    expect(patches.filter((s) => !s.resume)).toHaveLength(2);
    expect(patches.filter((s) => s.resume).length).toBeGreaterThanOrEqual(2);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.step === "resume" && e.vm !== null)).toHaveLength(2);
  });

  for (const restarts of [2, 3]) {
    it(`a patch survives ${restarts} controller restarts: it runs once, the VM succeeds, nothing is reverted`, async () => {
      const hv = await hypervisor("hv1", ["a"], { patchMs: 4_000 });
      const run = await startRun(spec(["a"], { canary: 0 }));
      await waitPhase(run.id, "patch");
      for (let i = 0; i < restarts; i++) {
        // Still patching: each restart lands while the patch runs on the agent.
        expect(hv.vms.get("a")!.version).toBe("v1");
        await restartController(hv);
        await new Promise((r) => setTimeout(r, 200));
      }
      const done = await waitFinished(run.id);
      expect(done.vms[0]!.reason).toBeNull();
      expect(outcomes(done)).toEqual({ a: "succeeded" });
      expect(hv.executed.filter((a) => a.kind === "guest-exec" && a.command === "apt-get -y upgrade")).toHaveLength(1);
      expect(hv.steps.filter((s) => s.action.kind === "snapshot-revert")).toEqual([]);
      expect(hv.vms.get("a")!.version).toBe("v2");
      const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
      expect(evidence.filter((e) => e.step === "resume" && e.vm === "a")).toHaveLength(restarts);
      expect(evidence.filter((e) => e.step === "patch").map((e) => e.result)).toEqual(["PASS"]);
    });
  }

  const rebootPhases: { phase: "preboot" | "reboot"; extra: Partial<RunSpecInput>; requiredAsked: boolean }[] = [
    { phase: "preboot", extra: { rebootIfOlderThan: "1s" }, requiredAsked: false },
    { phase: "reboot", extra: { reboot: "always" }, requiredAsked: false },
    { phase: "reboot", extra: { reboot: "if-required" }, requiredAsked: true },
  ];
  for (const { phase, extra, requiredAsked } of rebootPhases) {
    it(`a ${phase} (${JSON.stringify(extra)}) survives 3 controller restarts: one reboot, attached to each time, the VM succeeds`, async () => {
      const hv = await hypervisor("hv1", ["a"], {
        rebootMs: 4_000,
        override: (a) => a.kind === "reboot-required" ? { ok: true, result: { required: true, detail: "/run/reboot-required" } } : undefined,
      });
      const run = await startRun(spec(["a"], { canary: 0, ...extra }));
      await waitPhase(run.id, phase);
      for (let i = 0; i < 3; i++) {
        await restartController(hv);
        await new Promise((r) => setTimeout(r, 200));
      }
      const done = await waitFinished(run.id);
      expect(done.vms[0]!.reason).toBeNull();
      expect(outcomes(done)).toEqual({ a: "succeeded" });
      expect(hv.executed.filter((a) => a.kind === "reboot")).toHaveLength(1);
      expect(hv.executed.filter((a) => a.kind === "reboot-required")).toHaveLength(requiredAsked ? 1 : 0);
      expect(hv.executed.filter((a) => a.kind === "guest-exec" && a.command === "apt-get -y upgrade")).toHaveLength(1);
      expect(hv.steps.filter((s) => s.action.kind === "snapshot-revert")).toEqual([]);
      const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
      // Attached to the reboot in flight every time: never the fallback for a reboot the agent does not know.
      const lines = evidence.filter((e) => e.step === phase).map((e) => `${e.check} ${e.result}`);
      expect(lines.filter((l) => l.startsWith("reboot "))).toEqual(["reboot PASS"]);
      expect(lines.filter((l) => l.startsWith("start "))).toEqual([]);
    });
  }

  it("a reboot the agent forgot, the controller restarted again while making sure the VM is up: the same reboot is asked about, none is started", async () => {
    const hv = await hypervisor("hv1", ["a"], { rebootMs: 1_000, guestAgentWaitMs: 1_500 });
    const run = await startRun(spec(["a"], { canary: 0, reboot: "always" }));
    await waitPhase(run.id, "reboot");
    for (let i = 0; i < 200 && !hv.steps.some((s) => s.action.kind === "reboot"); i++) await new Promise((r) => setTimeout(r, 10));
    hv.forgetExecutions();
    await restartController(hv);
    for (let i = 0; i < 200 && !hv.steps.some((s) => s.action.kind === "wait-guest-agent"); i++) await new Promise((r) => setTimeout(r, 10));
    await restartController(hv);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded" });
    const reboots = hv.steps.filter((s) => s.action.kind === "reboot");
    expect(reboots.map((s) => s.resume)).toEqual([false, true, true]);
    expect(new Set(reboots.map((s) => s.id)).size).toBe(1);
    expect(hv.executed.filter((a) => a.kind === "reboot")).toHaveLength(1);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.step === "reboot").map((e) => `${e.check} ${e.result}`))
      .toEqual(["reboot FAIL", "start PASS", "reboot FAIL", "start PASS", "guest-agent PASS"]);
  });

  it("a patch picked but never sent before the controller died is sent after the restart under its kept id, and runs once", async () => {
    let lose = true;
    const hv = await hypervisor("hv1", ["a"], { drop: (r) => lose && r.action.kind === "guest-exec" && !r.resume && r.id.includes(":patch:") });
    const run = await startRun(spec(["a"], { canary: 0 }));
    await waitPhase(run.id, "patch");
    for (let i = 0; i < 200 && !hv.steps.some((s) => s.id.includes(":patch:")); i++) await new Promise((r) => setTimeout(r, 10));
    await controller.close();
    await hv.disconnect();
    // What a controller killed between keeping the patch's id and sending it leaves in the store.
    const db = new Database(path.join(dataDir, "nightshift.db"));
    const kept = db.prepare("SELECT step_id, step_sent FROM run_vms WHERE run_id = ?").get(run.id) as { step_id: string; step_sent: number };
    expect(kept.step_sent).toBe(1);
    db.prepare("UPDATE run_vms SET step_sent = 0 WHERE run_id = ?").run(run.id);
    db.close();
    lose = false;
    controller = await startController(baseConfig(), pino({ level: "silent" }));
    await hv.connect(controller.url, hv.token);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "succeeded" });
    const patches = hv.steps.filter((s) => s.id.includes(":patch:"));
    expect(patches.map((s) => [s.id, s.resume])).toEqual([[kept.step_id, false], [kept.step_id, false]]);
    expect(hv.executed.filter((a) => a.kind === "guest-exec" && a.command === "apt-get -y upgrade")).toHaveLength(1);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.step === "patch").map((e) => `${e.check} ${e.result} ${e.output}`)).toEqual([
      `exec INFO step ${kept.step_id} was picked before the controller restarted but never sent: sending it now`, "exec PASS exit 0\npatched"]);
  });

  it("a patch sent but lost on the way is rolled back after a restart: the controller cannot tell it from one the agent forgot", async () => {
    const hv = await hypervisor("hv1", ["a"], { drop: (r) => r.action.kind === "guest-exec" && !r.resume && r.id.includes(":patch:") });
    const run = await startRun(spec(["a"], { canary: 0 }));
    await waitPhase(run.id, "patch");
    for (let i = 0; i < 200 && !hv.steps.some((s) => s.id.includes(":patch:")); i++) await new Promise((r) => setTimeout(r, 10));
    await restartController(hv);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "rolled-back" });
    expect(done.vms[0]!.reason).toMatch(/interrupted and its outcome is unknown/);
    expect(hv.executed.filter((a) => a.kind === "guest-exec" && a.command === "apt-get -y upgrade")).toHaveLength(0);
    expect(hv.vms.get("a")!.version).toBe("v1");
  });

  it("a patch whose agent restarted (outcome unknown) is rolled back after a controller restart", async () => {
    const hv = await hypervisor("hv1", ["a"], { patchMs: 1_500 });
    const run = await startRun(spec(["a"], { canary: 0 }));
    for (;;) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${run.id}`);
      if (json.vms[0]!.phase === "patch") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await controller.close();
    await hv.disconnect();
    hv.forgetExecutions();
    controller = await startController(baseConfig(), pino({ level: "silent" }));
    await hv.connect(controller.url, hv.token);
    const done = await waitFinished(run.id);
    expect(outcomes(done)).toEqual({ a: "rolled-back" });
    expect(done.vms[0]!.reason).toMatch(/interrupted and its outcome is unknown/);
  });

  it("a dry run returns the plan and starts nothing; unknown VMs and bad specs are refused", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    const { status, json } = await api<{ plan: RunPlan }>("POST", "/v1/runs", { spec: spec(["a", "b"], { canary: 1 }), dryRun: true });
    expect(status).toBe(200);
    expect(json.plan.vms.map((v) => [v.vm, v.host, v.canary])).toEqual([["a", "hv1", true], ["b", "hv1", false]]);
    expect(json.plan.vms[0]!.steps.join("\n")).toContain("apt-get -y upgrade");
    expect(hv.steps).toHaveLength(0);
    const { json: runs } = await api<unknown[]>("GET", "/v1/runs");
    expect(runs).toHaveLength(0);

    const unknown = await api<{ error: { code: string } }>("POST", "/v1/runs", { spec: spec(["zz"]) });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "NS_ERR_NO_VM"]);
    const bad = await api<{ error: { code: string; message: string } }>("POST", "/v1/runs", { spec: { vms: ["a"], patch: {} } });
    expect([bad.status, bad.json.error.code]).toEqual([400, "NS_ERR_RUN_SPEC"]);
    const typo = await api<{ error: { code: string; message: string } }>("POST", "/v1/runs",
      { spec: spec(["a"], { verify: { exec: "hostname", tpc: [22] } as never }) });
    expect([typo.status, typo.json.error.code]).toEqual([400, "NS_ERR_RUN_SPEC"]);
    expect(typo.json.error.message).toMatch(/tpc/);
    const badPattern = await api<{ error: { message: string } }>("POST", "/v1/runs",
      { spec: spec(["a"], { verify: { exec: "hostname", outputPattern: "(" } }) });
    expect(badPattern.status).toBe(400);
    expect(badPattern.json.error.message).toMatch(/outputPattern is not a valid regular expression/);
  });

  it("the dry run lists exactly the phases a run of the same spec enters, in order", async () => {
    // The simulated guests are up 100 s: a precautionary reboot is due past 1m, not past 1h.
    const hv = await hypervisor("hv1", ["a", "b", "c", "d"]);
    hv.vms.get("d")!.breaksOnPatch = true;
    const cases: { vm: string; extra: Partial<RunSpecInput>; held: string[]; outcome: string }[] = [
      { vm: "a", extra: {}, held: [], outcome: "succeeded" },
      { vm: "b", extra: { reboot: "always", rebootIfOlderThan: "1m" }, held: ["preboot"], outcome: "succeeded" },
      { vm: "c", extra: { reboot: "if-required", rebootIfOlderThan: "1h", patch: { hook: "/usr/local/sbin/patch-vm" } }, held: [],
        outcome: "succeeded" },
      { vm: "d", extra: { reboot: "always", snapshotMode: "disk-only-quiesce" }, held: ["rollback"], outcome: "rolled-back" },
    ];
    for (const { vm, extra, held, outcome } of cases) {
      const { json: dry } = await api<{ plan: RunPlan }>("POST", "/v1/runs", { spec: spec([vm], extra), dryRun: true });
      const done = await waitFinished((await startRun(spec([vm], extra))).id);
      expect(outcomes(done)).toEqual({ [vm]: outcome });
      const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${done.id}/evidence`);
      const entered = evidence.filter((e) => e.vm === vm && e.step !== "outcome").map((e) => e.step)
        .filter((step, i, all) => step !== all[i - 1]);
      const described = describeProcedure(VM_PROCEDURE, done.spec);
      // The dry run is those descriptions; every phase without a condition is entered, one with a condition when it held.
      expect(dry.plan.vms[0]!.steps).toEqual(procedureSteps(VM_PROCEDURE, done.spec));
      expect(described.flatMap((d) => d.steps)).toEqual(dry.plan.vms[0]!.steps.slice(0, -1));
      expect(entered, JSON.stringify(extra)).toEqual(described.filter((d) => !d.when || held.includes(d.phase)).map((d) => d.phase));
      expect(described.filter((d) => d.when).map((d) => d.phase)).toEqual(expect.arrayContaining(held));
    }
  });

  it("retention deletes expired snapshots and nothing else", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    hv.vms.get("a")!.snapshots.set("operator-own", "v0");
    const short = await startRun(spec(["a"], { keepSnapshots: "1s" }));
    await waitFinished(short.id);
    const long = await startRun(spec(["b"], { keepSnapshots: "3d" }));
    await waitFinished(long.id);
    await new Promise((r) => setTimeout(r, 1_100));
    const result = await controller.retention.sweep();
    expect(result).toEqual({ deleted: 1, gone: 0, failed: 0, waiting: 0 });
    expect([...hv.vms.get("a")!.snapshots.keys()]).toEqual(["operator-own"]);
    expect([...hv.vms.get("b")!.snapshots.keys()]).toEqual([`nightshift-${long.id}-b`]);
    const { json: all } = await api<SnapshotRecord[]>("GET", "/v1/snapshots?all=1");
    const a = all.find((s) => s.vm === "a")!;
    expect(a.deletedAt).not.toBeNull();
    expect(a.note).toMatch(/deleted by retention/);
    const { json: kept } = await api<SnapshotRecord[]>("GET", "/v1/snapshots");
    expect(kept.map((s) => s.vm)).toEqual(["b"]);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${short.id}/evidence`);
    expect(evidence.some((e) => e.step === "retention" && e.result === "PASS")).toBe(true);
  });

  it("an operator's look-alike snapshot (our name, no agent marker) refused at create is not adopted: the VM is skipped, the row marked never created", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    hv.vms.get("a")!.lookAlikeSnapshot = true;
    const run = await startRun(spec(["a", "b"], { canary: 0 }));
    const done = await waitFinished(run.id);
    const name = `nightshift-${run.id}-a`;
    expect(outcomes(done)).toEqual({ a: "skipped", b: "succeeded" });
    const a = done.vms.find((v) => v.vm === "a")!;
    expect(a.snapshot).toBeNull();
    expect(a.reason).toMatch(new RegExp(`^snapshot refused: a already has a snapshot named ${name} that is not nightshift's .*` +
      `rename or delete it .*\\(nothing was patched\\)$`));
    // The operator's snapshot is left as it is: after the refusal it is only looked up, never reverted to or deleted.
    expect(hv.vms.get("a")!).toMatchObject({ version: "v1", snapshots: new Map([[name, "operator's"]]) });
    expect(hv.steps.filter((s) => s.action.vm === "a" && s.action.kind.startsWith("snapshot-")).map((s) => s.action.kind))
      .toEqual(["snapshot-create", "snapshot-exists"]);

    const { json: kept } = await api<SnapshotRecord[]>("GET", "/v1/snapshots");
    expect(kept.map((s) => s.vm)).toEqual(["b"]);
    const { json: all } = await api<SnapshotRecord[]>("GET", "/v1/snapshots?all=1");
    const row = all.find((s) => s.vm === "a")!;
    expect(row.name).toBe(name);
    expect(row.deletedAt).not.toBeNull();
    expect(row.note).toMatch(/^never created: a snapshot named .* that is not nightshift's .*look-alike.* was already on the VM/);

    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.vm === "a" && e.step === "snapshot").map((e) => `${e.check} ${e.result}`))
      .toEqual(["disks INFO", "create FAIL", "exists WARN"]);
    expect(evidence.find((e) => e.vm === "a" && e.check === "create")!.output).toMatch(/NS_ERR_STEP_SNAPSHOT_NOT_OURS/);

    // Retention, however late, never asks to delete the operator's snapshot.
    const swept = await controller.retention.sweep(Date.now() + 365 * 86_400_000);
    expect(swept).toEqual({ deleted: 1, gone: 0, failed: 0, waiting: 0 });
    expect(hv.steps.filter((s) => s.action.kind === "snapshot-delete").map((s) => s.action.vm)).toEqual(["b"]);
  });

  it("webhooks get run start, rollback and end; the in-maintenance metric marks VMs in flight", async () => {
    const received: { event: string; vm?: { name: string } }[] = [];
    const hook = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => { body += c.toString(); }).on("end", () => {
        received.push(JSON.parse(body) as { event: string });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    try {
      await controller.close();
      controller = await startController(baseConfig({
        notifications: { webhooks: [`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`] },
      }), pino({ level: "silent" }));
      const hv = await hypervisor("hv1", ["a", "b"], { patchMs: 400 });
      hv.vms.get("b")!.breaksOnPatch = true;
      const run = await startRun(spec(["a", "b"], { canary: 0, maxFailures: 2 }));
      let marked = "";
      for (let i = 0; i < 100 && !marked; i++) {
        const text = await (await fetch(`${controller.url}/metrics`)).text();
        marked = text.split("\n").find((l) => l.startsWith("nightshift_vm_in_maintenance{") && l.includes('vm="a"')) ?? "";
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(marked).toBe(`nightshift_vm_in_maintenance{host="hv1",vm="a",run="${run.id}"} 1`);
      await waitFinished(run.id);
      const after = await (await fetch(`${controller.url}/metrics`)).text();
      expect(after).not.toMatch(/^nightshift_vm_in_maintenance\{/m);
      for (let i = 0; i < 100 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(received.map((n) => `${n.event}${n.vm ? `:${n.vm.name}` : ""}`)).toEqual(["run-started", "vm-rolled-back:b", "run-finished"]);
    } finally {
      hook.close();
    }
  });
});
