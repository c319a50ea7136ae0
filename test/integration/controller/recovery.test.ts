/**
 * The way back from needs-attention, against an in-process controller with a
 * real SQLite file and simulated hypervisors over real WebSockets:
 * `POST /v1/vms/ID/resolve` (what it clears, what it keeps, its record, its
 * refusals) and `DELETE /v1/snapshots/HOST/VM/NAME` (merge, discard, plain
 * delete, and what it refuses before asking an agent). Real guests and the
 * real agent: test/e2e/sandboxed-agent.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import type { SimulatedHypervisor } from "../../helpers/simulated-hypervisor.js";
import { controllerApi, type Answer, type EnrolledHypervisor } from "../../helpers/controller-api.js";
import type { EvidenceRecord, RunDetail, RunSpecInput, SnapshotRecord, VmResolutionRecord } from "../../../shared/runs.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
const hypervisors: SimulatedHypervisor[] = [];

const { api, ok, hypervisor } = controllerApi(() => ({ url: controller.url, adminToken }), hypervisors);
/** How the controller names the admin token's holder in records. */
const holder = () => `API token ${controller.store.apiTokens.verify(adminToken) ?? "?"}`;
const errorOf = (a: Answer<unknown>) => [a.status, (a.json as { error?: { code: string } }).error?.code];

type Resolution = VmResolutionRecord;
type Deleted = SnapshotRecord & { result: string };

const spec = (vms: string[], extra: Partial<RunSpecInput> = {}): RunSpecInput => ({
  vms, patch: { exec: "apt-get -y upgrade" }, verify: { exec: "cat /data/version", outputPattern: "v[0-9]+" }, canary: 0, maxParallel: 1, maxFailures: 5, ...extra,
});

async function run(s: RunSpecInput): Promise<RunDetail> {
  const { run: started } = await ok<{ run: RunDetail }>("POST", "/v1/runs", { spec: s }, 201);
  for (let i = 0; ; i++) {
    const detail = await ok<RunDetail>("GET", `/v1/runs/${started.id}`);
    if (detail.state === "finished") return detail;
    if (i > 600) throw new Error(`run ${started.id} not finished: ${JSON.stringify(detail)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A hypervisor whose reverts of `broken` VMs fail: a patch that breaks them leaves them needing attention, their snapshot kept. */
async function failingRevertHost(host: string, vms: string[], broken: string[]): Promise<EnrolledHypervisor> {
  const hv = await hypervisor(host, vms, {
    override: (action) => (action.kind === "snapshot-revert" && broken.includes(action.vm)
      ? { ok: false, code: "NS_ERR_STEP_LIBVIRT", message: "revert failed (simulated)" } : undefined),
  });
  for (const vm of broken) hv.vms.get(vm)!.breaksOnPatch = true;
  return hv;
}

const resolvePath = (id: string) => `/v1/vms/${encodeURIComponent(id)}/resolve`;
const snapshotPath = (host: string, vm: string, name: string) =>
  `/v1/snapshots/${encodeURIComponent(host)}/${encodeURIComponent(vm)}/${encodeURIComponent(name)}`;
const metricLines = async () => (await (await fetch(`${controller.url}/metrics`)).text()).split("\n")
  .filter((l) => l.startsWith("nightshift_vm_needs_attention{"));

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-recovery-"));
  controller = await startController(ControllerConfigSchema.parse({
    listen: "127.0.0.1:0", dataDir, agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "2s" }, retention: { schedule: "0 0 1 1 *" },
  }), pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterEach(async () => {
  for (const hv of hypervisors) await hv.disconnect();
  hypervisors.length = 0;
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("nightshift vm resolve (POST /v1/vms/ID/resolve)", () => {
  it("clears a VM's needs-attention state with a record of who and why; the run's outcome stays as history", async () => {
    await failingRevertHost("hv1", ["a", "b"], ["a"]);
    const first = await run(spec(["a", "b"]));
    expect(first.vms.map((v) => v.outcome)).toEqual(["needs-attention", "aborted"]);
    expect(controller.store.runs.needsAttention().map((r) => `${r.host}/${r.vm}`)).toEqual(["hv1/a"]);
    expect(await metricLines()).toEqual([`nightshift_vm_needs_attention{host="hv1",vm="a",run="${first.id}"} 1`]);

    const before = Date.now();
    const resolved = await ok<Resolution>("POST", resolvePath("hv1/a"), { reason: "reverted by hand, checked the service", by: "alice@ops1" });
    expect(resolved).toEqual({ host: "hv1", vm: "a", runs: [first.id], reason: "reverted by hand, checked the service",
      by: `alice@ops1 (${holder()})`, resolvedAt: expect.any(String), snapshots: [`nightshift-${first.id}-a`] });
    expect(Date.parse(resolved.resolvedAt)).toBeGreaterThanOrEqual(before - 1);

    expect(controller.store.runs.needsAttention()).toEqual([]);
    expect(await metricLines()).toEqual([]);
    // History: the outcome and reason of the run stay; the resolution is an evidence line of it.
    const after = await ok<RunDetail>("GET", `/v1/runs/${first.id}`);
    expect([after.vms[0]!.outcome, after.vms[0]!.reason]).toEqual(["needs-attention", first.vms[0]!.reason]);
    const evidence = await ok<EvidenceRecord[]>("GET", `/v1/runs/${first.id}/evidence`);
    const line = evidence.find((e) => e.step === "operator" && e.check === "resolve")!;
    expect([line.vm, line.host, line.result, line.command]).toEqual(["a", "hv1", "INFO", "nightshift vm resolve hv1/a"]);
    expect(line.output).toBe(`needs-attention resolved by alice@ops1 (${holder()}): reverted by hand, checked the service`);
    // The snapshot of a VM that needed attention is still kept, without expiry, until someone deletes it.
    const snaps = await ok<SnapshotRecord[]>("GET", "/v1/snapshots");
    expect(snaps.find((s) => s.vm === "a")).toMatchObject({ expiresAt: null, deletedAt: null });

    const again = await api("POST", resolvePath("hv1/a"), { reason: "again" });
    expect(errorOf(again)).toEqual([409, "NS_ERR_VM_NOT_NEEDS_ATTENTION"]);
  });

  it("one resolve covers every earlier needs-attention of the VM; needing attention again later flags it again", async () => {
    const hv = await failingRevertHost("hv1", ["a"], ["a"]);
    // The operator brings the version back by hand before each run, as the pre-check's verify wants it.
    const again = () => { hv.vms.get("a")!.version = "v1"; return run(spec(["a"])); };
    const r1 = await again();
    const r2 = await again();
    expect([r1.vms[0]!.outcome, r2.vms[0]!.outcome]).toEqual(["needs-attention", "needs-attention"]);
    // A bare VM name is enough when one host has it.
    const resolved = await ok<Resolution>("POST", resolvePath("a"), { reason: "fixed" });
    expect([...resolved.runs].sort()).toEqual([r1.id, r2.id].sort());
    expect(resolved.by).toBe(holder());
    expect(controller.store.runs.needsAttention()).toEqual([]);

    const r3 = await again();
    expect(r3.vms[0]!.outcome).toBe("needs-attention");
    expect(controller.store.runs.needsAttention().map((r) => r.run_id)).toEqual([r3.id]);
  });

  it("refuses an unknown host or VM (404), a VM that does not need attention (409), an ambiguous name, a request without a reason", async () => {
    await failingRevertHost("hv1", ["a", "ok"], ["a"]);
    await hypervisor("hv2", ["a"]);
    await run(spec(["hv1/a", "ok"]));
    expect(errorOf(await api("POST", resolvePath("nohost/a"), { reason: "x" }))).toEqual([404, "NS_ERR_NO_HOST"]);
    expect(errorOf(await api("POST", resolvePath("hv1/nosuchvm"), { reason: "x" }))).toEqual([404, "NS_ERR_NO_VM"]);
    expect(errorOf(await api("POST", resolvePath("nosuchvm"), { reason: "x" }))).toEqual([404, "NS_ERR_NO_VM"]);
    const fine = await api<{ error: { message: string } }>("POST", resolvePath("hv1/ok"), { reason: "x" });
    expect(errorOf(fine)).toEqual([409, "NS_ERR_VM_NOT_NEEDS_ATTENTION"]);
    expect(fine.json.error.message).toMatch(/hv1\/ok does not need attention/);
    expect(errorOf(await api("POST", resolvePath("hv2/a"), { reason: "x" }))).toEqual([409, "NS_ERR_VM_NOT_NEEDS_ATTENTION"]);
    expect(errorOf(await api("POST", resolvePath("a"), { reason: "x" }))).toEqual([409, "NS_ERR_VM_AMBIGUOUS"]);
    expect(errorOf(await api("POST", resolvePath("hv1/a"), {}))).toEqual([400, "NS_ERR_BAD_REQUEST"]);
    expect(errorOf(await api("POST", resolvePath("hv1/a"), { reason: " " }))).toEqual([400, "NS_ERR_BAD_REQUEST"]);
    // None of these cleared anything.
    expect(controller.store.runs.needsAttention().map((r) => `${r.host}/${r.vm}`)).toEqual(["hv1/a"]);
  });

  it("resolves a VM that is no longer in its host's inventory (undefined since), by the runs it was in", async () => {
    const hv = await failingRevertHost("hv1", ["a", "b"], ["a"]);
    await run(spec(["a"]));
    hv.vms.delete("a");
    hv.agent!.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [] });
    for (let i = 0; i < 100 && (await ok<unknown[]>("GET", "/v1/vms")).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await ok<unknown[]>("GET", "/v1/vms")).toEqual([]);
    const resolved = await ok<Resolution>("POST", resolvePath("hv1/a"), { reason: "VM retired" });
    expect(resolved.vm).toBe("a");
  });
});

describe("nightshift snapshots delete (DELETE /v1/snapshots/HOST/VM/NAME)", () => {
  it("an internal snapshot: a plain delete, recorded on the snapshot and as evidence of its run", async () => {
    const hv = await hypervisor("hv1", ["a"]);
    const done = await run(spec(["a"]));
    const name = `nightshift-${done.id}-a`;
    expect(errorOf(await api("DELETE", snapshotPath("hv1", "a", name), { mode: "discard" }))).toEqual([400, "NS_ERR_SNAPSHOT_MODE"]);
    const deleted = await ok<Deleted>("DELETE", snapshotPath("hv1", "a", name), { reason: "not needed", by: "bob" });
    expect(deleted).toMatchObject({ name, vm: "a", host: "hv1", runId: done.id, result: "deleted" });
    expect(deleted.deletedAt).not.toBeNull();
    expect(deleted.note).toBe(`deleted by the operator (bob (${holder()})): not needed`);
    expect(hv.vms.get("a")!.snapshots.has(name)).toBe(false);
    expect(hv.executed.filter((a) => a.kind === "snapshot-delete")).toEqual([{ kind: "snapshot-delete", vm: "a", name }]);
    const all = await ok<SnapshotRecord[]>("GET", "/v1/snapshots?all=1");
    expect(all.find((s) => s.name === name)!.deletedAt).toBe(deleted.deletedAt);
    expect(await ok<SnapshotRecord[]>("GET", "/v1/snapshots")).toEqual([]);
    const evidence = await ok<EvidenceRecord[]>("GET", `/v1/runs/${done.id}/evidence`);
    expect(evidence.find((e) => e.step === "operator" && e.check === "snapshot-delete")).toMatchObject({
      result: "PASS", vm: "a", command: `nightshift snapshots delete hv1/a ${name}`, output: deleted.note,
    });
    expect(errorOf(await api("DELETE", snapshotPath("hv1", "a", name)))).toEqual([409, "NS_ERR_SNAPSHOT_DELETED"]);
  });

  it("a disk-only snapshot needs --merge or --discard; merge asks the agent for snapshot-delete, discard for snapshot-discard", async () => {
    const hv = await hypervisor("hv1", ["a", "b"]);
    const done = await run(spec(["a", "b"], { snapshotMode: "disk-only-quiesce" }));
    const [nameA, nameB] = ["a", "b"].map((vm) => `nightshift-${done.id}-${vm}`) as [string, string];
    const noMode = await api<{ error: { message: string } }>("DELETE", snapshotPath("hv1", "a", nameA));
    expect(errorOf(noMode)).toEqual([400, "NS_ERR_SNAPSHOT_MODE"]);
    expect(noMode.json.error.message).toMatch(/disk-only.*merge.*discard/);
    expect(errorOf(await api("DELETE", snapshotPath("hv1", "a", nameA), { mode: "squash" }))).toEqual([400, "NS_ERR_BAD_REQUEST"]);

    const merged = await ok<Deleted>("DELETE", snapshotPath("hv1", "a", nameA), { mode: "merge" });
    expect([merged.result, merged.note]).toEqual(["merged", `merged into the disks by the operator (${holder()})`]);
    // The agent refuses a discard of a running VM: answered with its code, noted, not marked deleted.
    const refused = await api<{ error: { code: string; message: string } }>("DELETE", snapshotPath("hv1", "b", nameB), { mode: "discard" });
    expect(errorOf(refused)).toEqual([409, "NS_ERR_STEP_VM_NOT_SHUT_OFF"]);
    const noted = (await ok<SnapshotRecord[]>("GET", "/v1/snapshots")).find((s) => s.name === nameB)!;
    expect([noted.deletedAt, noted.note]).toEqual([null, expect.stringMatching(/^deleting failed: .*running/)]);
    hv.vms.get("b")!.state = "shutoff";
    const discarded = await ok<Deleted>("DELETE", snapshotPath("hv1", "b", nameB), { mode: "discard", reason: "patch unwanted" });
    expect([discarded.result, discarded.note]).toEqual(["discarded", `discarded by the operator (${holder()}): patch unwanted`]);
    expect(hv.executed.filter((a) => a.kind.startsWith("snapshot-d")).map((a) => a.kind))
      .toEqual(["snapshot-delete", "snapshot-discard", "snapshot-discard"]);
  });

  it("a snapshot no longer in libvirt is recorded as gone", async () => {
    const hv = await hypervisor("hv1", ["a"]);
    const done = await run(spec(["a"]));
    const name = `nightshift-${done.id}-a`;
    hv.vms.get("a")!.snapshots.delete(name);
    const gone = await ok<Deleted>("DELETE", snapshotPath("hv1", "a", name));
    expect([gone.result, gone.note]).toEqual(["gone", `already gone when the operator deleted it (${holder()})`]);
  });

  it("refuses what is not nightshift's, a VM in a run, an agent that is not connected, before asking any agent", async () => {
    const hv1 = await hypervisor("hv1", ["a"]);
    const slow = await hypervisor("hv2", ["b"], { patchMs: 60_000 });
    hv1.vms.get("a")!.snapshots.set("operator-own", "v0");
    expect(errorOf(await api("DELETE", snapshotPath("hv1", "a", "operator-own")))).toEqual([404, "NS_ERR_NO_SNAPSHOT"]);
    expect(errorOf(await api("DELETE", snapshotPath("hv9", "a", "x")))).toEqual([404, "NS_ERR_NO_HOST"]);

    // b in a run (patching for a minute): its snapshot is the run's to revert.
    const { run: busy } = await ok<{ run: RunDetail }>("POST", "/v1/runs", { spec: spec(["b"]) }, 201);
    let name = "";
    for (let i = 0; i < 400 && !name; i++) {
      name = (await ok<SnapshotRecord[]>("GET", "/v1/snapshots")).find((s) => s.vm === "b")?.name ?? "";
      await new Promise((r) => setTimeout(r, 10));
    }
    const inRun = await api<{ error: { message: string } }>("DELETE", snapshotPath("hv2", "b", name));
    expect(errorOf(inRun)).toEqual([409, "NS_ERR_VM_IN_RUN"]);
    expect(inRun.json.error.message).toContain(busy.id);

    const done = await run(spec(["a"]));
    await hv1.disconnect();
    expect(errorOf(await api("DELETE", snapshotPath("hv1", "a", `nightshift-${done.id}-a`)))).toEqual([409, "NS_ERR_AGENT_NOT_CONNECTED"]);
    expect([...hv1.executed, ...slow.executed].filter((a) => a.kind === "snapshot-delete" || a.kind === "snapshot-discard")).toEqual([]);
    await ok("POST", `/v1/runs/${busy.id}/abort`);
  });
});
