/**
 * The agent under its systemd unit's file-system sandbox (ProtectSystem=strict
 * and the unit's writable paths, emulated by test/helpers/unit-sandbox.ts in
 * a mount namespace of the agent's own), with a controller process and a real
 * TCG guest: a disk-only-quiesce run whose patch breaks the guest.
 *
 * - Under a copy of the unit without its ReadWritePaths= line the image
 *   directory is read-only for the agent: the pre-check refuses the disk-only
 *   snapshot before anything changes, and the VM is skipped, still running.
 * - Under the unit as shipped the rollback works: the VM is rolled back to its
 *   original disk, and no overlay is left.
 *
 * Then the way back from a VM a disk-only snapshot left needing attention: the
 * agent restarted mid-patch under the unit without ReadWritePaths=, so the
 * rollback's revert is refused (the VM still runs on its overlay). With the
 * unit as shipped again, through the CLI and the API: the snapshot is merged
 * (the VM keeps what it has now) or, with the VM shut off, discarded (back to
 * the disk it had), `nightshift vm resolve` clears the needs-attention state,
 * and the next run takes a snapshot again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { waitForGuestAgent } from "../../agent/maintenance/agent-ping.js";
import { ensureGuestBuilt, guestDiskPath, guestDomainXml, GUEST_IMAGES_DIR, prepareGuestDisk } from "../helpers/guest.js";
import { testPrefix } from "../helpers/libvirt.js";
import { startController, type TestController } from "../helpers/controller.js";
import { controllerApi } from "../helpers/controller-api.js";
import { e2eLogs, guestShell, removeGuests, writeAgentConfig } from "../helpers/e2e-guests.js";
import { REPO_ROOT } from "../helpers/run.js";
import { unitSandbox, type UnitSandbox } from "../helpers/unit-sandbox.js";
import { AgentProcess, tempAgentDir } from "../integration/agent/daemon/agent-process.js";
import { runAgainst } from "../integration/cli/run-cli.js";
import type { EvidenceRecord, RunDetail, RunSpecInput, SnapshotRecord } from "../../shared/runs.js";

const prefix = testPrefix("recov");
const hostName = `recov-${randomBytes(3).toString("hex")}`;
const VM = `${prefix}a`;
const UNIT = path.join(REPO_ROOT, "systemd/nightshift-agent.service");
const PATCH = "echo v2 > /data/version && if [ -e /data/fragile ]; then echo broken > /data/health; fi; sync";
const VERIFY = "cat /data/health";
/** Patches that take a while, so the agent can be replaced in the middle of one; the guest finishes them regardless. */
const SLOW_PATCH = "sleep 4 && echo v3 > /data/version && sync";
const SLOW_PATCH_2 = "sleep 4 && echo v5 > /data/version && sync";
const QUICK_PATCH = "echo v4 > /data/version && sync";
const CONTROLLER_CONFIG = { agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "4s" }, retention: { schedule: "0 0 1 1 *" } };

let conn: LibvirtConnection;
let dom: DomainRef;
let controller: TestController;
let agent: AgentProcess | undefined;
let agentDir: ReturnType<typeof tempAgentDir>;
let agentConfig: string;
let dataDir: string;
const sandboxes: UnitSandbox[] = [];

const { api } = controllerApi(() => controller);
const guestSh = (command: string) => guestShell(conn, dom, command);
const disk = () => guestDiskPath(VM);
const overlays = () => fs.readdirSync(path.dirname(disk())).filter((f) => f.startsWith(`${path.basename(disk())}.nightshift-`));

/** A sandbox of the agent unit, or of a copy of it edited by `edit`. */
function sandboxOf(label: string, edit?: (text: string) => string): UnitSandbox {
  const dir = fs.mkdtempSync(path.join(agentDir.dir, `${label}-`));
  let unitFile = UNIT;
  if (edit) {
    unitFile = path.join(dir, "nightshift-agent.service");
    fs.writeFileSync(unitFile, edit(fs.readFileSync(UNIT, "utf8")));
  }
  const sandbox = unitSandbox({ unitFile, dir, stateSource: path.join(dir, "state") });
  sandboxes.push(sandbox);
  return sandbox;
}
const withoutReadWritePaths = (text: string) => text.replace(/^ReadWritePaths=.*\n/gm, "");

/** Runs `sh -c command` inside the sandbox (as the agent would be): its exit code and stderr. */
function inSandbox(sandbox: UnitSandbox, command: string): Promise<{ code: number; stderr: string }> {
  const [cmd, ...args] = [...sandbox.prefix, "/bin/sh", "-c", command];
  return new Promise((resolve) => {
    execFile(cmd!, args, { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr }));
  });
}

async function startSandboxedAgent(sandbox: UnitSandbox): Promise<void> {
  await agent?.stop();
  agent = new AgentProcess({
    controller: controller.agentUrl, tokenFile: agentDir.tokenFile, stateDir: sandbox.stateDir, uri: "qemu:///system",
    env: { NIGHTSHIFT_AGENT_HOST: hostName, NIGHTSHIFT_AGENT_LOG_LEVEL: "info" }, args: ["--config", agentConfig],
    wrap: sandbox.prefix,
  });
  await agent.waitForLibvirt();
  for (let i = 0; i < 200; i++) {
    const { json } = await api<{ name: string; connected: boolean }[]>("GET", "/v1/hosts").catch(() => ({ json: [] }));
    const { json: vms } = await api<{ name: string }[]>("GET", "/v1/vms").catch(() => ({ json: [] }));
    if (json.some((h) => h.name === hostName && h.connected) && vms.some((v) => v.name === VM)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sandboxed agent not connected with its inventory\n${agent.dump().slice(-3000)}`);
}

async function startRun(spec: RunSpecInput): Promise<RunDetail> {
  const { status, json } = await api<{ run: RunDetail }>("POST", "/v1/runs", { spec });
  if (status !== 201) throw new Error(`run start: HTTP ${status} ${JSON.stringify(json)}`);
  return json.run;
}

async function waitFor(id: string, done: (r: RunDetail) => boolean, timeoutMs = 120_000): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api<RunDetail>("GET", `/v1/runs/${id}`).catch(() => ({ json: null }));
    if (json && done(json)) return json;
    if (Date.now() > deadline) {
      throw new Error(`run ${id} not there within ${timeoutMs} ms: ${JSON.stringify(json, null, 1)}\n${await e2eLogs(agent!, controller, [VM])}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
const finished = (id: string) => waitFor(id, (r) => r.state === "finished");

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  const diskPath = await prepareGuestDisk(VM, artifacts);
  dom = await conn.domainCreate(await conn.domainDefineXML(guestDomainXml({ name: VM, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath })));
  await waitForGuestAgent(conn, dom, { timeoutMs: 30_000, intervalMs: 250 });
  await guestSh("echo ok > /data/health && touch /data/fragile && sync");

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-recov-controller-"));
  controller = await startController({ dataDir, config: CONTROLLER_CONFIG });
  const enrolled = await runAgainst(controller, ["hosts", "enroll", hostName]);
  expect(enrolled.code).toBe(0);
  agentDir = tempAgentDir(enrolled.stdout.trim());
  agentConfig = path.join(agentDir.dir, "agent.yaml");
  writeAgentConfig(agentConfig, [PATCH, VERIFY, SLOW_PATCH, SLOW_PATCH_2, QUICK_PATCH]);
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await removeGuests(conn, prefix, [VM]);
  // An overlay a failed rollback left behind, and the guest's console log.
  for (const f of fs.readdirSync(GUEST_IMAGES_DIR).filter((n) => n.startsWith(prefix))) fs.rmSync(path.join(GUEST_IMAGES_DIR, f), { force: true });
  for (const s of sandboxes) s.cleanup();
  agentDir?.cleanup();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("disk-only rollback with the agent in its unit's sandbox", { timeout: 120_000 }, () => {
  it("the emulated sandbox: / is read-only, the state directory writable, the image directory only with the unit's ReadWritePaths", async () => {
    const shipped = sandboxOf("shipped");
    const bare = sandboxOf("bare", withoutReadWritePaths);
    expect(shipped.writable.map((w) => `${w.optional ? "-" : ""}${w.path}`)).toEqual(["/var/lib/nightshift-agent", "-/var/lib/libvirt/images", "-/etc/modprobe.d"]);
    const probe = `${GUEST_IMAGES_DIR}/.${prefix}probe`;
    for (const [sandbox, imagesWritable] of [[shipped, true], [bare, false]] as const) {
      expect((await inSandbox(sandbox, `touch ${sandbox.stateDir}/probe && rm ${sandbox.stateDir}/probe`)).code).toBe(0);
      const etc = await inSandbox(sandbox, "touch /etc/nightshift-sandbox-probe");
      expect([etc.code, etc.stderr]).toEqual([1, expect.stringContaining("Read-only file system")]);
      const images = await inSandbox(sandbox, `touch ${probe} && rm ${probe}`);
      expect(images.code === 0, images.stderr).toBe(imagesWritable);
      if (!imagesWritable) expect(images.stderr).toContain("Read-only file system");
    }
    expect(fs.existsSync(probe)).toBe(false);
  });

  it("without ReadWritePaths the pre-check refuses the disk-only snapshot: the VM is skipped, running, unchanged", async () => {
    const t0 = Date.now();
    await startSandboxedAgent(sandboxOf("no-rwp", withoutReadWritePaths));
    const run = await startRun({ vms: [VM], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, snapshotMode: "disk-only-quiesce" });
    const done = await finished(run.id);
    const { state } = await conn.domainGetState(dom);
    console.log(`read-only image directory: ${done.vms[0]!.outcome} (VM ${state}) in ${Date.now() - t0} ms: ${done.vms[0]!.reason}`);
    expect([done.vms[0]!.outcome, state]).toEqual(["skipped", "running"]);
    expect(done.vms[0]!.reason).toMatch(/^pre-check snapshot space: .*NS_ERR_STEP_DISK_NOT_WRITABLE/);
    expect(done.vms[0]!.reason).toContain(GUEST_IMAGES_DIR);
    expect(done.vms[0]!.reason).toMatch(/systemctl edit nightshift-agent.*ReadWritePaths=/);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.filter((e) => e.step === "snapshot" || e.step === "patch")).toEqual([]);
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${disk()}'`);
    expect(overlays()).toEqual([]);
    expect(await conn.domainListAllSnapshots(dom)).toEqual([]);
    expect(await guestSh("cat /data/version")).toBe("v1");
  });

  it("with the unit as shipped the disk-only rollback succeeds: rolled back to the original disk, no overlay left", async () => {
    const t0 = Date.now();
    await startSandboxedAgent(sandboxOf("shipped-agent"));
    const run = await startRun({ vms: [VM], patch: { exec: PATCH }, verify: { exec: VERIFY, output: "ok" }, snapshotMode: "disk-only-quiesce" });
    const done = await finished(run.id);
    console.log(`shipped unit: ${done.vms[0]!.outcome} in ${Date.now() - t0} ms: ${done.vms[0]!.reason}`);
    expect(done.vms[0]!.outcome).toBe("rolled-back");
    expect(done.vms[0]!.reason).toMatch(/verify failed.*broken/);
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${disk()}'`);
    expect(overlays()).toEqual([]);
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).not.toContain(`nightshift-${run.id}-${VM}`);
    expect(await guestSh("cat /data/version")).toBe("v1");
    expect(await guestSh("cat /data/health")).toBe("ok");
  });
});

describe("the way back from a VM a disk-only snapshot left needing attention", { timeout: 120_000 }, () => {
  const id = () => `${hostName}/${VM}`;
  const cli = (...args: string[]) => runAgainst(controller, args);
  const snapshotPath = (name: string) => `/v1/snapshots/${encodeURIComponent(hostName)}/${encodeURIComponent(VM)}/${encodeURIComponent(name)}`;
  const overlayOf = (name: string) => `${disk()}.${name}.qcow2`;
  const untilGuest = async (command: string, expected: string) => {
    for (let i = 0; i < 100 && (await guestSh(command)) !== expected; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await guestSh(command)).toBe(expected);
  };

  /**
   * A disk-only run whose agent is replaced mid-patch by one under the unit without ReadWritePaths=: the patch's
   * outcome is unknown, the rollback's revert is refused, the VM needs attention and still runs on its overlay.
   */
  async function leftOnOverlay(patch: string): Promise<{ run: RunDetail; snapshot: string }> {
    await startSandboxedAgent(sandboxOf("shipped-agent"));
    const run = await startRun({ vms: [VM], patch: { exec: patch }, verify: { exec: VERIFY, output: "ok" }, snapshotMode: "disk-only-quiesce" });
    const patching = await waitFor(run.id, (r) => r.vms[0]!.phase === "patch" || r.state === "finished", 60_000);
    expect(patching.vms[0]!.phase, patching.vms[0]!.reason ?? "").toBe("patch");
    agent!.kill("SIGKILL");
    await agent!.exited;
    await startSandboxedAgent(sandboxOf("no-rwp", withoutReadWritePaths));
    const done = await finished(run.id);
    const snapshot = `nightshift-${run.id}-${VM}`;
    expect(done.vms[0]!.outcome).toBe("needs-attention");
    expect(done.vms[0]!.reason).toMatch(/^rollback revert failed: .*nothing was changed: the VM still runs on the snapshot's overlays.*NS_ERR_STEP_DISK_NOT_WRITABLE/);
    expect((await conn.domainGetState(dom)).state).toBe("running");
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${overlayOf(snapshot)}'`);
    // Back to the unit as shipped for the repair.
    await startSandboxedAgent(sandboxOf("shipped-agent"));
    return { run: done, snapshot };
  }

  it("merge: the snapshot is merged into the disk (the VM keeps its state), resolve clears the VM, the next run snapshots again", async () => {
    const t0 = Date.now();
    const { run, snapshot } = await leftOnOverlay(SLOW_PATCH);
    await untilGuest("cat /data/version", "v3");
    const kept = (await api<SnapshotRecord[]>("GET", "/v1/snapshots")).json.find((s) => s.name === snapshot)!;
    expect([kept.expiresAt, kept.deletedAt]).toEqual([null, null]);

    // What the operator found: the next run refuses the VM, which has a disk-only snapshot already.
    const refusedRun = await finished((await startRun({ vms: [VM], patch: { exec: QUICK_PATCH }, verify: { exec: VERIFY, output: "ok" },
      snapshotMode: "disk-only-quiesce" })).id);
    expect(refusedRun.vms[0]!.outcome).toBe("skipped");
    expect(refusedRun.vms[0]!.reason).toMatch(new RegExp(`already has the external snapshot ${snapshot}`));

    // A disk-only snapshot needs the operator's choice; a discard needs the VM off. Neither refusal changes anything.
    const noMode = await cli("snapshots", "delete", id(), snapshot);
    expect([noMode.code, noMode.stderr]).toEqual([1, expect.stringMatching(/--merge.*--discard.*\(NS_ERR_SNAPSHOT_MODE\)/)]);
    const running = await cli("snapshots", "delete", id(), snapshot, "--discard");
    expect([running.code, running.stderr]).toEqual([1, expect.stringMatching(/is running.*\(NS_ERR_STEP_VM_NOT_SHUT_OFF\)/)]);
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${overlayOf(snapshot)}'`);
    expect(fs.existsSync(overlayOf(snapshot))).toBe(true);

    const merged = await cli("snapshots", "delete", id(), snapshot, "--merge", "--reason", "keep the patch", "--json");
    expect(merged.code, merged.stderr).toBe(0);
    const record = JSON.parse(merged.stdout) as SnapshotRecord & { result: string };
    expect([record.name, record.result, record.deletedAt !== null]).toEqual([snapshot, "merged", true]);
    expect(record.note).toMatch(/merged .*by the operator.*keep the patch/);
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${disk()}'`);
    expect(overlays()).toEqual([]);
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).not.toContain(snapshot);
    expect(await guestSh("cat /data/version")).toBe("v3");
    const listed = await cli("snapshots", "--all");
    expect(listed.stdout).toMatch(new RegExp(`${VM}\\s+${hostName}\\s+${snapshot}.*merged`));
    const again = await cli("snapshots", "delete", id(), snapshot, "--merge");
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining("(NS_ERR_SNAPSHOT_DELETED)")]);

    const resolved = await cli("vm", "resolve", id(), "--reason", "overlay merged, patch v3 checked by hand");
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout).toContain(`${id()} no longer needs attention`);
    const twice = await cli("vm", "resolve", id(), "--reason", "again");
    expect([twice.code, twice.stderr]).toEqual([1, expect.stringContaining("(NS_ERR_VM_NOT_NEEDS_ATTENTION)")]);
    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${run.id}/evidence`);
    expect(evidence.map((e) => `${e.step}/${e.check} ${e.result}`)).toEqual(expect.arrayContaining(["operator/snapshot-delete PASS", "operator/resolve INFO"]));
    expect(evidence.find((e) => e.check === "resolve")!.output).toMatch(/overlay merged, patch v3 checked by hand/);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).not.toContain(`nightshift_vm_needs_attention{host="${hostName}",vm="${VM}"`);

    // The way is clear: the next disk-only run takes its snapshot and succeeds; its kept snapshot is merged away again.
    const next = await finished((await startRun({ vms: [VM], patch: { exec: QUICK_PATCH }, verify: { exec: VERIFY, output: "ok" },
      snapshotMode: "disk-only-quiesce" })).id);
    expect(next.vms[0]!.outcome).toBe("succeeded");
    const cleanup = await cli("snapshots", "delete", id(), `nightshift-${next.id}-${VM}`, "--merge");
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(overlays()).toEqual([]);
    expect(await guestSh("cat /data/version")).toBe("v4");
    console.log(`merge and resolve: ${Date.now() - t0} ms`);
  });

  it("discard: with the VM shut off the overlay is dropped and the disk is the one it had; resolved through the API", async () => {
    const t0 = Date.now();
    const { snapshot } = await leftOnOverlay(SLOW_PATCH_2);
    await untilGuest("cat /data/version", "v5");
    await conn.domainDestroy(dom);

    const { status, json } = await api<SnapshotRecord & { result: string }>("DELETE", snapshotPath(snapshot), { mode: "discard", reason: "patch v5 unwanted" });
    expect([status, json.result, json.deletedAt !== null]).toEqual([200, "discarded", true]);
    expect((await conn.domainGetState(dom)).state).toBe("shutoff");
    expect(await conn.domainGetXMLDesc(dom)).toContain(`<source file='${disk()}'`);
    expect(overlays()).toEqual([]);
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).not.toContain(snapshot);
    await conn.domainCreate(dom);
    await waitForGuestAgent(conn, dom, { timeoutMs: 30_000, intervalMs: 250 });
    // What the disk held when the snapshot was taken: the merged v4, not the discarded patch's v5.
    expect(await guestSh("cat /data/version")).toBe("v4");

    const vmPath = `/v1/vms/${encodeURIComponent(id())}/resolve`;
    const resolved = await api<{ host: string; vm: string; runs: string[]; by: string }>("POST", vmPath, { reason: "overlay discarded" });
    expect([resolved.status, resolved.json.host, resolved.json.vm, resolved.json.runs.length]).toEqual([200, hostName, VM, 1]);
    expect(resolved.json.by).toMatch(/token admin/);
    const again = await api<{ error: { code: string } }>("POST", vmPath, { reason: "again" });
    expect([again.status, again.json.error.code]).toEqual([409, "NS_ERR_VM_NOT_NEEDS_ATTENTION"]);
    console.log(`discard and resolve: ${Date.now() - t0} ms`);
  });
});
