/**
 * Maintenance runs end to end, all real: the controller and the agent as
 * processes, three QEMU guests on the system libvirtd, internal snapshots with
 * memory, the patch and the verify command run in the guests by qemu-ga.
 *
 * Each guest has /data/version = v1 and /data/health = ok. The patch writes
 * v2 to /data/version and, on a guest that has /data/fragile, breaks
 * /data/health; verify is `cat /data/health` with output "ok". So the patch
 * succeeds on two guests and fails verify on the fragile one, which must be
 * rolled back to v1.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import { GuestAgent } from "../../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { ensureGuestBuilt, guestDiskPath, guestDomainXml, prepareGuestDisk } from "../helpers/guest.js";
import { testPrefix } from "../helpers/libvirt.js";
import { ensureTestBridge, guestAddressPool, type GuestAddress } from "../helpers/guest-network.js";
import { startController, type TestController } from "../helpers/controller.js";
import { controllerApi } from "../helpers/controller-api.js";
import { waitForGuestAgent } from "../../agent/maintenance/agent-ping.js";
import { e2eLogs, guestShell, removeGuests, startE2eAgent, writeAgentConfig } from "../helpers/e2e-guests.js";
import { tempAgentDir, type AgentProcess } from "../integration/agent/daemon/agent-process.js";
import { runAgainst } from "../integration/cli/run-cli.js";
import type { EvidenceRecord, RunDetail, RunSpecInput, SnapshotRecord } from "../../shared/runs.js";

const prefix = testPrefix("runs");
const hostName = `runs-${randomBytes(3).toString("hex")}`;
const NAMES = ["a", "b", "c"].map((s) => `${prefix}${s}`);
const [A, B, C] = NAMES as [string, string, string];
const PATCH = "echo v2 > /data/version && if [ -e /data/fragile ]; then echo broken > /data/health; fi; sync";
const SLOW_PATCH = "sleep 4 && echo v3 > /data/version && sync";
const VERIFY = "cat /data/health";
const CONTROLLER_CONFIG = {
  liveness: { missingAfter: "5s", checkInterval: "500ms" }, agents: { heartbeat: "1s" },
  runs: { agentLostTimeout: "4s" }, retention: { schedule: "* * * * * *" },
};

let conn: LibvirtConnection;
let controller: TestController;
let agent: AgentProcess;
let agentDir: ReturnType<typeof tempAgentDir>;
let agentConfig: string;
let dataDir: string;
let hookPath: string;
let hookLog: string;
const doms: Record<string, DomainRef> = {};
const addresses: Record<string, GuestAddress> = {};
const pool = guestAddressPool();

const guestSh = (name: string, command: string) => guestShell(conn, doms[name]!, command);
const { api } = controllerApi(() => controller);

async function startRun(spec: RunSpecInput): Promise<RunDetail> {
  const { status, json } = await api<{ run: RunDetail }>("POST", "/v1/runs", { spec });
  if (status !== 201) throw new Error(`run start: HTTP ${status} ${JSON.stringify(json)}`);
  return json.run;
}

async function waitFor(id: string, done: (r: RunDetail) => boolean, timeoutMs: number): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api<RunDetail>("GET", `/v1/runs/${id}`).catch(() => ({ json: null }));
    if (json && done(json)) return json;
    if (Date.now() > deadline) {
      throw new Error(`run ${id} not there within ${timeoutMs} ms: ${JSON.stringify(json, null, 1)}\n${await e2eLogs(agent, controller, NAMES)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
const finished = (id: string, timeoutMs = 120_000) => waitFor(id, (r) => r.state === "finished", timeoutMs);
const outcomes = (run: RunDetail) => Object.fromEntries(run.vms.map((v) => [v.vm, v.outcome]));

const startAgent = () => startE2eAgent(controller, agentDir, hostName, agentConfig);

async function waitConnected(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { json } = await api<{ name: string; connected: boolean }[]>("GET", "/v1/hosts").catch(() => ({ json: [] }));
    const { json: vms } = await api<{ name: string }[]>("GET", "/v1/vms").catch(() => ({ json: [] }));
    if (json.some((h) => h.name === hostName && h.connected) && NAMES.every((n) => vms.some((v) => v.name === n))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`agent not connected with its inventory\n${agent.dump().slice(-3000)}`);
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  // On a host bridge, so TCP and HTTP verify checks reach the guests (echo on port 7, httpd on 80).
  const bridge = await ensureTestBridge();
  for (const name of NAMES) {
    const diskPath = await prepareGuestDisk(name, artifacts);
    addresses[name] = await pool.take();
    const dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath,
      network: { bridge: bridge.name, address: addresses[name]!.cidr } }));
    doms[name] = await conn.domainCreate(dom);
  }
  for (const name of NAMES) {
    await waitForGuestAgent(conn, doms[name]!, { timeoutMs: 30_000, intervalMs: 250 });
    await guestSh(name, `echo ok > /data/health${name === C ? " && touch /data/fragile" : ""}; sync`);
  }

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-runs-controller-"));
  controller = await startController({ dataDir, config: CONTROLLER_CONFIG });
  const enrolled = await runAgainst(controller, ["hosts", "enroll", hostName]);
  expect(enrolled.code).toBe(0);
  agentDir = tempAgentDir(enrolled.stdout.trim());
  agentConfig = path.join(agentDir.dir, "agent.yaml");
  hookPath = path.join(agentDir.dir, "patch-hook.sh");
  hookLog = path.join(agentDir.dir, "hook.log");
  fs.writeFileSync(hookPath, `#!/bin/sh\necho "patching $1 for run $NIGHTSHIFT_RUN_ID" >> ${hookLog}\necho "hook ran for $1"\n`, { mode: 0o755 });
  writeAgentConfig(agentConfig, [PATCH, SLOW_PATCH, VERIFY], [hookPath]);
  agent = startAgent();
  await agent.waitForLibvirt();
  await waitConnected();
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await removeGuests(conn, prefix, NAMES);
  await pool.releaseAll();
  agentDir?.cleanup();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("maintenance runs on real guests", { timeout: 180_000 }, () => {
  let firstRun: RunDetail;

  it("patches three guests: two verified (snapshots kept), the third rolled back to its old version file", async () => {
    const t0 = Date.now();
    const run = await startRun({ vms: NAMES, patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 1, maxFailures: 1 });
    firstRun = await finished(run.id);
    console.log(`3-guest run finished in ${Date.now() - t0} ms`);
    expect(outcomes(firstRun)).toEqual({ [A]: "succeeded", [B]: "succeeded", [C]: "rolled-back" });
    expect(firstRun.vms.find((v) => v.vm === C)!.reason).toMatch(/verify failed.*broken/);

    expect(await guestSh(A, "cat /data/version")).toBe("v2");
    expect(await guestSh(B, "cat /data/version")).toBe("v2");
    // Rolled back: the old version file, a healthy guest, and its guest agent answers.
    expect(await guestSh(C, "cat /data/version")).toBe("v1");
    expect(await guestSh(C, "cat /data/health")).toBe("ok");
    await new GuestAgent(conn, doms[C]!).ping();

    // The snapshots exist in libvirt under nightshift's name and are kept (3 days by default).
    for (const name of NAMES) {
      const snaps = (await conn.domainListAllSnapshots(doms[name]!)).map((s) => s.name);
      expect(snaps).toContain(`nightshift-${run.id}-${name}`);
    }
    const { json: kept } = await api<SnapshotRecord[]>("GET", "/v1/snapshots");
    expect(kept.filter((s) => s.runId === run.id).map((s) => s.vm).sort()).toEqual([...NAMES].sort());
  });

  it("the evidence shows every step with PASS or FAIL, the exact commands and output, as text and JSON", async () => {
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${firstRun.id}/evidence`);
    const lines = (vm: string) => evidence.filter((e) => e.vm === vm).map((e) => `${e.step}/${e.check} ${e.result}`);
    expect(lines(A)).toEqual(expect.arrayContaining(["precheck/allowed PASS", "precheck/vm PASS", "precheck/exec PASS",
      "precheck/disk-space PASS", "snapshot/create PASS", "patch/exec PASS", "verify/vm-running PASS", "verify/guest-agent PASS",
      "verify/exec PASS", "outcome/succeeded PASS"]));
    expect(lines(C)).toEqual(expect.arrayContaining(["patch/exec PASS", "verify/exec FAIL", "rollback/revert PASS",
      "rollback/guest-agent PASS", "rollback/exec PASS", "outcome/rolled-back FAIL"]));
    const patchLine = evidence.find((e) => e.vm === A && e.step === "patch")!;
    expect(patchLine.command).toBe(`guest-exec /bin/sh -c ${JSON.stringify(PATCH)}`);
    const failed = evidence.find((e) => e.vm === C && e.step === "verify" && e.check === "exec")!;
    expect(failed.output).toContain("broken");
    for (const e of evidence) expect(Number.isNaN(Date.parse(e.time))).toBe(false);

    const text = await runAgainst(controller, ["run", "evidence", firstRun.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${C}.*verify/exec.*FAIL`));
    expect(text.stdout).toMatch(new RegExp(`${A}.*patch/exec.*PASS`));
  });

  it("a canary that fails halts the run: the other guests are not touched", async () => {
    const before = await Promise.all([A, B].map((n) => guestSh(n, "cat /data/version")));
    const run = await startRun({ vms: [C, A, B], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 1, maxFailures: 3 });
    const done = await finished(run.id);
    expect(outcomes(done)).toEqual({ [C]: "rolled-back", [A]: "aborted", [B]: "aborted" });
    expect(done.haltReason).toBe(`canary ${C} rolled-back`);
    expect(await Promise.all([A, B].map((n) => guestSh(n, "cat /data/version")))).toEqual(before);
    expect(await guestSh(C, "cat /data/version")).toBe("v1");
  });

  it("the failure budget stops new VMs; abort lets the VM in flight finish and starts no other", async () => {
    const budget = await startRun({ vms: [C, A], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 0, maxParallel: 1, maxFailures: 1 });
    const budgetDone = await finished(budget.id);
    expect(outcomes(budgetDone)).toEqual({ [C]: "rolled-back", [A]: "aborted" });
    expect(budgetDone.haltReason).toMatch(/failure budget spent: 1 of 2/);

    const run = await startRun({ vms: [A, B], patch: { exec: SLOW_PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 0, maxParallel: 1 });
    await waitFor(run.id, (r) => r.vms[0]!.phase === "patch", 60_000);
    const aborted = await runAgainst(controller, ["run", "abort", run.id]);
    expect(aborted.code).toBe(0);
    const done = await finished(run.id);
    expect(outcomes(done)).toEqual({ [A]: "succeeded", [B]: "aborted" });
    expect(await guestSh(A, "cat /data/version")).toBe("v3");
    expect(await guestSh(B, "cat /data/version")).toBe("v2");
  });

  it("the controller killed mid-patch and restarted: the run resumes and every VM ends in a defined outcome", async () => {
    const run = await startRun({ vms: [A, B], patch: { exec: SLOW_PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 0, maxParallel: 2 });
    await waitFor(run.id, (r) => r.vms.every((v) => v.phase === "patch"), 60_000);
    controller.process.kill("SIGKILL");
    await new Promise((r) => controller.process.once("exit", r));
    const t0 = Date.now();
    controller = await startController({ dataDir, port: controller.port, config: CONTROLLER_CONFIG });
    const done = await finished(run.id);
    console.log(`run completed ${Date.now() - t0} ms after the controller restart`);
    expect(outcomes(done)).toEqual({ [A]: "succeeded", [B]: "succeeded" });
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.step === "resume" && e.vm !== null).map((e) => e.vm).sort()).toEqual([A, B].sort());
    // The patch ran once per guest: attached to, not repeated (a repeat would have slept 4 s again, logged by the agent).
    expect(await guestSh(A, "cat /data/version")).toBe("v3");
  });

  it("retention deletes the expired snapshots, keeps the unexpired ones and the operator's own", async () => {
    const own = await conn.domainSnapshotCreateXML(doms[B]!, "<domainsnapshot><name>operator-own</name></domainsnapshot>");
    const run = await startRun({ vms: [A], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, keepSnapshots: "1s" });
    await finished(run.id);
    const name = `nightshift-${run.id}-${A}`;
    for (let i = 0; ; i++) {
      const { json } = await api<SnapshotRecord[]>("GET", "/v1/snapshots?all=1");
      if (json.find((s) => s.name === name)?.deletedAt) break;
      if (i > 100) throw new Error(`snapshot ${name} not deleted: ${JSON.stringify(json)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await conn.domainListAllSnapshots(doms[A]!)).map((s) => s.name)).not.toContain(name);
    // The first run's snapshots keep 3 days: still there.
    expect((await conn.domainListAllSnapshots(doms[A]!)).map((s) => s.name)).toContain(`nightshift-${firstRun.id}-${A}`);
    expect((await conn.domainListAllSnapshots(doms[B]!)).map((s) => s.name)).toContain(own.name);
  });

  it("a precautionary reboot of a long-running guest, an operator's hook as the patch, and a reboot after it", async () => {
    const bootId = await guestSh(B, "cat /proc/sys/kernel/random/boot_id");
    const run = await startRun({ vms: [B], patch: { hook: hookPath }, reboot: "always", rebootIfOlderThan: "1s",
      verify: { exec: VERIFY, output: "ok" } });
    const done = await finished(run.id);
    expect(outcomes(done)).toEqual({ [B]: "succeeded" });
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    const lines = evidence.filter((e) => e.vm === B).map((e) => `${e.step}/${e.check} ${e.result}`);
    expect(lines).toEqual(expect.arrayContaining(["precheck/uptime INFO", "preboot/reboot PASS", "preboot/exec PASS",
      "patch/hook PASS", "reboot/reboot PASS", "verify/exec PASS"]));
    expect(fs.readFileSync(hookLog, "utf8")).toContain(`patching ${B} for run ${run.id}`);
    expect(evidence.find((e) => e.step === "patch")!.output).toContain(`hook ran for ${B}`);
    // Two reboots: a new boot id.
    expect(await guestSh(B, "cat /proc/sys/kernel/random/boot_id")).not.toBe(bootId);
  });

  it("TCP and HTTP verify checks: the VM's port from its hypervisor, a URL from the controller", async () => {
    const url = `http://${addresses[A]!.address}/`;
    const ok = await startRun({ vms: [A], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok", tcp: [7], http: [url] } });
    const okDone = await finished(ok.id);
    expect(outcomes(okDone)).toEqual({ [A]: "succeeded" });
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${ok.id}/evidence`);
    const tcp = evidence.find((e) => e.step === "verify" && e.check === "tcp:7")!;
    expect(tcp.result).toBe("PASS");
    expect(tcp.output).toContain(`${addresses[A]!.address}:7 accepted`);
    const http = evidence.find((e) => e.step === "verify" && e.check === "http")!;
    expect([http.result, http.command, http.output]).toEqual(["PASS", `GET ${url}`, "HTTP 200 (expected 2xx)"]);

    // Port 9 is closed in the guest: the pre-check fails, nothing is changed.
    const closed = await startRun({ vms: [A], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok", tcp: [9] } });
    const closedDone = await finished(closed.id);
    expect(outcomes(closedDone)).toEqual({ [A]: "skipped" });
    expect(closedDone.vms[0]!.reason).toMatch(/TCP port 9/);
  });

  it("a command the agent's config does not list is refused before anything changes", async () => {
    const run = await startRun({ vms: [A], patch: { exec: "rm -rf /data" }, verify: { exec: VERIFY, output: "ok" } });
    const done = await finished(run.id);
    expect(outcomes(done)).toEqual({ [A]: "skipped" });
    expect(done.vms[0]!.reason).toMatch(/guest command `rm -rf \/data` is not allowed by this agent.s config.*maintenance.guestCommands/);
    expect(await guestSh(A, "ls /data")).toContain("version");
  });

  it("disk-only snapshots with guest quiesce: a failed patch is rolled back to the original disk, no overlay left", async () => {
    const disk = guestDiskPath(C);
    const run = await startRun({ vms: [C], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, snapshotMode: "disk-only-quiesce" });
    const done = await finished(run.id);
    expect(outcomes(done)).toEqual({ [C]: "rolled-back" });
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.find((e) => e.step === "snapshot" && e.check === "create")!.output).toMatch(/created, disk only/);
    expect(await guestSh(C, "cat /data/version")).toBe("v1");
    expect(await guestSh(C, "cat /data/health")).toBe("ok");
    const xml = await conn.domainGetXMLDesc(doms[C]!);
    expect(xml).toContain(`<source file='${disk}'`);
    const overlays = fs.readdirSync(path.dirname(disk)).filter((f) => f.startsWith(`${path.basename(disk)}.nightshift-`));
    expect(overlays).toEqual([]);
    expect((await conn.domainListAllSnapshots(doms[C]!)).map((s) => s.name)).not.toContain(`nightshift-${run.id}-${C}`);
  });

  it("an agent killed mid-step: the VM needs attention once the agent stays away, and the run halts", async () => {
    const run = await startRun({ vms: [A, B], patch: { exec: SLOW_PATCH }, verify: { exec: VERIFY, output: "ok" }, canary: 0, maxParallel: 1, maxFailures: 5 });
    await waitFor(run.id, (r) => r.vms[0]!.phase === "patch", 60_000);
    agent.kill("SIGKILL");
    const done = await finished(run.id, 30_000);
    expect(outcomes(done)).toEqual({ [A]: "needs-attention", [B]: "aborted" });
    expect(done.vms[0]!.reason).toMatch(/agent lost during the patch/);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toContain(`nightshift_vm_needs_attention{host="${hostName}",vm="${A}",run="${run.id}"} 1`);
  });
});
