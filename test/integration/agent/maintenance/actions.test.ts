/**
 * Every step action against the real libvirtd and one real QEMU guest
 * (busybox + qemu-ga, /data/version = "v1", on the test bridge with a TCP echo
 * service on port 7), through the StepExecutor and the real action registry,
 * as the agent daemon runs them. Two more domains are
 * only defined, never started: one with a raw image, one with a block device,
 * to check how inspect classifies disks an internal snapshot cannot take (and
 * which of them a disk-only snapshot can).
 *
 * Guest boots: one at the start, one for the reboot step, one for the start
 * step at the end; the revert restores memory and does not boot.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { pino } from "pino";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { GuestAgent } from "../../../../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../../../../agent/libvirt/remote-types.js";
import { STEP_HANDLERS } from "../../../../agent/maintenance/actions/index.js";
import { StepExecutor } from "../../../../agent/maintenance/step-executor.js";
import type { MaintenanceConfig } from "../../../../agent/maintenance/types.js";
import { StepErrorCodes } from "../../../../shared/protocol/steps.js";
import { snapshotName } from "../../../../shared/runs.js";
import {
  ensureGuestBuilt, guestDomainXml, prepareGuestDisk, readGuestConsoleLog, removeGuestDisk, GUEST_DATA_VERSION,
} from "../../../helpers/guest.js";
import { ensureTestBridge, guestAddressPool, type GuestAddress } from "../../../helpers/guest-network.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";
import { stepRunner } from "../../../helpers/steps.js";

const prefix = testPrefix("steps");
const name = `${prefix}g1`;
const rawName = `${prefix}raw`;
const blockName = `${prefix}block`;
const PATCH = "echo v2 > /data/version && sync";
const READ_VERSION = "cat /data/version";
const SLOW = "sleep 5";
const FAILING = "echo out; echo err >&2; exit 3";
/** A run id of the controller's shape: hooks get nothing else, and the agent touches only snapshots named for one. */
const RUN = "20261123-020501-3fa9";
const PRE = snapshotName(RUN, name);

let conn: LibvirtConnection;
let dom: DomainRef;
let diskPath: string;
let hookDir: string;
let goodHook: string;
let openHook: string;
let steps: StepExecutor;
const addresses = guestAddressPool();
let guestAddress: GuestAddress;

function config(): MaintenanceConfig {
  return { guestCommands: [PATCH, READ_VERSION, SLOW, FAILING], allowAnyGuestCommand: false, hooks: [goodHook, openHook] };
}

const { ok, fails } = stepRunner(() => steps);

async function version(): Promise<string> {
  const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: READ_VERSION, timeoutMs: 10_000 });
  expect(out.exitCode).toBe(0);
  return out.stdout.trim();
}

function printConsoleOnFailure(): void {
  onTestFailed(async () => { console.log(`console of ${name}:\n${await readGuestConsoleLog(name)}`); });
}

function definedOnlyXml(domainName: string, disks: string): string {
  return `<domain type='qemu'><name>${domainName}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>` +
    `<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>${disks}</devices></domain>`;
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  hookDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-hooks-"));
  goodHook = path.join(hookDir, "pre-patch");
  fs.writeFileSync(goodHook, '#!/bin/sh\necho "hook for $1 (vm=$NIGHTSHIFT_VM run=$NIGHTSHIFT_RUN_ID)"\necho warning >&2\nexit 0\n', { mode: 0o755 });
  openHook = path.join(hookDir, "world-writable");
  fs.writeFileSync(openHook, "#!/bin/sh\nexit 0\n");
  fs.chmodSync(openHook, 0o777);
  steps = new StepExecutor({
    handlers: STEP_HANDLERS, libvirt: () => conn, libvirtUri: "qemu:///system", config: config(), logger: pino({ level: "silent" }),
  });

  const bridge = await ensureTestBridge();
  guestAddress = await addresses.take();
  diskPath = await prepareGuestDisk(name, artifacts);
  dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath,
    network: { bridge: bridge.name, address: guestAddress.cidr } }));
  await conn.domainDefineXML(definedOnlyXml(rawName,
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/nightshift-test/never.img'/>" +
    "<target dev='vda' bus='virtio'/></disk>" +
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/nightshift-test/never.iso'/>" +
    "<target dev='sda' bus='sata'/><readonly/></disk>"));
  await conn.domainDefineXML(definedOnlyXml(blockName,
    "<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/nightshift-test/never'/>" +
    "<target dev='vda' bus='virtio'/></disk>"));
  dom = await conn.domainCreate(dom);
  const waited = await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 90_000 });
  console.log(`guest agent answered ${Math.round(waited.waitedMs)} ms after start`);
});

afterAll(async () => {
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  if (diskPath) await removeGuestDisk(diskPath);
  if (hookDir) fs.rmSync(hookDir, { recursive: true, force: true });
  await addresses.releaseAll();
});

describe("maintenance steps against a real QEMU guest", { timeout: 120_000 }, () => {
  it("inspect: a running qcow2 guest is snapshotable and its guest agent answers", async () => {
    printConsoleOnFailure();
    const result = await ok<"inspect">({ kind: "inspect", vm: name });
    expect(result).toEqual({
      uuid: dom.uuid, state: "running", stateReason: "booted", persistent: true, memoryKiB: 192 * 1024,
      disks: [{ target: "vda", type: "file", device: "disk", driverType: "qcow2", source: diskPath, snapshotable: true, reason: null,
        diskOnlySnapshotable: true, diskOnlyReason: null }],
      passthrough: [], snapshots: [], guestAgent: true,
    });
  });

  it("inspect: a raw image and a block device are not snapshotable (internal), with the reason; for a disk-only snapshot the raw " +
    "image is, the block device is not; a read-only cdrom does not count", async () => {
    const raw = await ok<"inspect">({ kind: "inspect", vm: rawName });
    expect(raw).toMatchObject({ state: "shutoff", guestAgent: false, snapshots: [] });
    expect(raw.disks).toEqual([
      expect.objectContaining({ target: "vda", type: "file", driverType: "raw", snapshotable: false,
        reason: expect.stringMatching(/^raw image: internal snapshots need qcow2/), diskOnlySnapshotable: true, diskOnlyReason: null }),
      expect.objectContaining({ target: "sda", device: "cdrom", snapshotable: true, reason: expect.stringMatching(/read-only cdrom/),
        diskOnlySnapshotable: true, diskOnlyReason: expect.stringMatching(/read-only cdrom/) }),
    ]);
    const block = await ok<"inspect">({ kind: "inspect", vm: blockName });
    expect(block.disks).toEqual([expect.objectContaining({ target: "vda", type: "block", source: "/dev/nightshift-test/never",
      snapshotable: false, reason: expect.stringMatching(/^block device \/dev\/nightshift-test\/never \(LVM volume/),
      diskOnlySnapshotable: false, diskOnlyReason: expect.stringMatching(/^disk of type 'block' \(\/dev\/nightshift-test\/never\)/) })]);
    // And snapshot-create refuses it up front, naming the disk.
    const refused = await fails({ kind: "snapshot-create", vm: blockName, name: snapshotName(RUN, blockName), description: "", mode: "internal" });
    expect(refused.code).toBe(StepErrorCodes.FAILED);
    expect(refused.message).toMatch(new RegExp(`VM ${blockName} cannot take an internal snapshot: disk vda: block device`));
  });

  it("answers NS_ERR_STEP_NO_VM for a VM that is not defined", async () => {
    const err = await fails({ kind: "inspect", vm: `${prefix}missing` });
    expect(err.code).toBe(StepErrorCodes.NO_VM);
    expect(err.message).toMatch(new RegExp(`VM ${prefix}missing is not defined on this host \\(libvirt qemu:///system\\)`));
  });

  it("check-allowed: lists the commands and hooks this agent would refuse", async () => {
    const result = await ok<"check-allowed">({ kind: "check-allowed", vm: name,
      guestCommands: [PATCH, "rm -rf /data"], hooks: [goodHook, openHook, "/usr/local/bin/unlisted"] });
    expect(result).toEqual({ deniedCommands: ["rm -rf /data"], deniedHooks: [openHook, "/usr/local/bin/unlisted"], refusals: [
      { item: "rm -rf /data", reason: expect.stringMatching(/maintenance\.guestCommands/) },
      { item: openHook, reason: expect.stringMatching(/chmod go-w/) },
      { item: "/usr/local/bin/unlisted", reason: expect.stringMatching(/maintenance\.hooks/) },
    ] });
  });

  it("guest-exec: runs a listed command with its output and exit code, refuses an unlisted one, times out a slow one", async () => {
    printConsoleOnFailure();
    expect(await version()).toBe(GUEST_DATA_VERSION);
    const failing = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: FAILING, timeoutMs: 10_000 });
    expect(failing).toMatchObject({ exitCode: 3, signal: null, stdout: "out\n", stderr: "err\n", truncated: false });

    const refused = await fails({ kind: "guest-exec", vm: name, command: "rm -rf /data", timeoutMs: 10_000 });
    expect(refused.code).toBe(StepErrorCodes.NOT_ALLOWED);
    expect(refused.message).toMatch(/`rm -rf \/data` is not allowed by this agent's config: add it, exactly as written, to maintenance\.guestCommands/);

    const t0 = Date.now();
    const slow = await fails({ kind: "guest-exec", vm: name, command: SLOW, timeoutMs: 500 });
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(slow.code).toBe(StepErrorCodes.TIMEOUT);
    expect(slow.message).toMatch(new RegExp(`VM ${name}: guest command \`sleep 5\` did not finish within 500 ms \\(guest pid \\d+`));
  });

  it("guest-users and guest-uptime: what the guest agent and /proc/uptime say", async () => {
    const users = await ok<"guest-users">({ kind: "guest-users", vm: name });
    const direct = await new GuestAgent(conn, dom).getUsers();
    expect(users.users).toEqual(direct.map((u) => ({ user: u.user, loginTime: u.loginTime.toISOString() })));

    const before = Date.now();
    const uptime = await ok<"guest-uptime">({ kind: "guest-uptime", vm: name });
    expect(uptime.detail).toBe("from /proc/uptime");
    // The guest booted in beforeAll, at most a few minutes ago.
    expect(uptime.uptimeSeconds).toBeGreaterThan(1);
    expect(uptime.uptimeSeconds).toBeLessThan(600);
    const second = await ok<"guest-uptime">({ kind: "guest-uptime", vm: name });
    expect(second.uptimeSeconds! - uptime.uptimeSeconds!).toBeGreaterThanOrEqual(0);
    expect(second.uptimeSeconds! - uptime.uptimeSeconds!).toBeLessThan((Date.now() - before) / 1000 + 1);
  });

  it("reboot-required: false, then true once /run/reboot-required exists", async () => {
    expect(await ok<"reboot-required">({ kind: "reboot-required", vm: name }))
      .toEqual({ required: false, detail: "none of /run/reboot-required, /var/run/reboot-required exists" });
    const agent = new GuestAgent(conn, dom);
    expect((await agent.exec({ path: "/bin/sh", args: ["-c", "touch /run/reboot-required"] })).exitCode).toBe(0);
    expect(await ok<"reboot-required">({ kind: "reboot-required", vm: name }))
      .toEqual({ required: true, detail: "/run/reboot-required exists" });
    expect((await agent.exec({ path: "/bin/rm", args: ["/run/reboot-required"] })).exitCode).toBe(0);
  });

  it("disk-space: free space of the image's filesystem against memory plus headroom (internal), headroom only (disk-only)", async () => {
    const result = await ok<"disk-space">({ kind: "disk-space", vm: name, headroomFraction: 0.5 });
    const capacity = (await conn.domainGetBlockInfo(dom, "vda")).capacity;
    const statfs = fs.statfsSync(path.dirname(diskPath));
    expect(result.disks).toHaveLength(1);
    const [disk] = result.disks;
    expect(disk).toMatchObject({ target: "vda", source: diskPath, neededBytes: 192 * 1024 * 1024 + Math.ceil(0.5 * capacity) });
    // Same filesystem, measured a moment apart: equal but for what other tests wrote meanwhile.
    expect(Math.abs(disk!.availableBytes - statfs.bavail * statfs.bsize)).toBeLessThan(256 * 1024 * 1024);
    expect(await ok<"disk-space">({ kind: "disk-space", vm: name, headroomFraction: 0.5, mode: "internal" }))
      .toMatchObject({ disks: [{ target: "vda", neededBytes: disk!.neededBytes }] });
    // A disk-only snapshot saves no memory: its overlay grows by the rewritten blocks only.
    expect(await ok<"disk-space">({ kind: "disk-space", vm: name, headroomFraction: 0.5, mode: "disk-only-quiesce" }))
      .toMatchObject({ disks: [{ target: "vda", source: diskPath, neededBytes: Math.ceil(0.5 * capacity) }] });
    // Disks a snapshot does not take are not measured.
    expect(await ok<"disk-space">({ kind: "disk-space", vm: rawName, headroomFraction: 0.5 })).toEqual({ disks: [] });
    expect(await ok<"disk-space">({ kind: "disk-space", vm: blockName, headroomFraction: 0.5, mode: "disk-only-quiesce" }))
      .toEqual({ disks: [] });
  });

  it("snapshot-create (idempotent), exists; the patch writes v2; revert brings back v1 with the guest agent answering; delete", async () => {
    printConsoleOnFailure();
    const created = await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: PRE, description: "before <v2> & co", mode: "internal" });
    expect(created).toMatchObject({ name: PRE, created: true, withMemory: true });
    const again = await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: PRE, description: "again", mode: "internal" });
    expect(again).toEqual({ name: PRE, created: false, withMemory: true, durationMs: 0 });
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).toEqual([PRE]);
    expect(await ok<"snapshot-exists">({ kind: "snapshot-exists", vm: name, name: PRE })).toEqual({ exists: true });
    expect(await ok<"snapshot-exists">({ kind: "snapshot-exists", vm: name, name: "other" })).toEqual({ exists: false });

    const patch = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command: PATCH, timeoutMs: 10_000 });
    expect(patch.exitCode).toBe(0);
    expect(await version()).toBe("v2");

    const t0 = Date.now();
    const reverted = await ok<"snapshot-revert">({ kind: "snapshot-revert", vm: name, name: PRE });
    expect(reverted.state).toBe("running");
    const waited = await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 30_000 });
    console.log(`snapshot-create ${Math.round(created.durationMs)} ms; revert ${Math.round(reverted.durationMs)} ms, ` +
      `guest agent answering ${Math.round(waited.waitedMs)} ms later (${Date.now() - t0} ms in all)`);
    expect(await version()).toBe(GUEST_DATA_VERSION);

    const nope = snapshotName("20261123-020501-0000", name);
    const missing = await fails({ kind: "snapshot-revert", vm: name, name: nope });
    expect(missing.message).toBe(`VM ${name} has no snapshot named ${nope}; it has ${PRE}`);

    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: PRE })).toEqual({ deleted: true });
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: PRE })).toEqual({ deleted: false });
    expect(await ok<"snapshot-exists">({ kind: "snapshot-exists", vm: name, name: PRE })).toEqual({ exists: false });
  });

  it("reboot: through the guest agent, confirmed by the reboot event and the guest agent of the new boot", async () => {
    printConsoleOnFailure();
    const t0 = Date.now();
    const result = await ok<"reboot">({ kind: "reboot", vm: name, timeoutMs: 90_000 });
    const after = await ok<"guest-uptime">({ kind: "guest-uptime", vm: name });
    const elapsedSeconds = (Date.now() - t0) / 1000;
    console.log(`reboot took ${Math.round(result.rebootedInMs)} ms; guest uptime ${after.uptimeSeconds} s, ${elapsedSeconds} s after asking`);
    // (Uptime before the reboot says nothing here: the revert above brought back the snapshot's uptime.)
    // The guest's kernel started after the step asked for the reboot.
    expect(after.uptimeSeconds!).toBeLessThan(elapsedSeconds);
    expect(result.rebootedInMs / 1000).toBeLessThanOrEqual(elapsedSeconds);
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "running" });
  });

  it("tcp-check: connects to the address the guest agent reports; a closed port and a guest without an address are clear errors", async () => {
    printConsoleOnFailure();
    const echo = await ok<"tcp-check">({ kind: "tcp-check", vm: name, port: 7, timeoutMs: 5_000 });
    expect(echo.address).toBe(guestAddress.address);
    expect(echo.connectMs).toBeLessThan(5_000);
    const closed = await fails({ kind: "tcp-check", vm: name, port: 22, timeoutMs: 5_000 });
    expect(closed).toMatchObject({ code: StepErrorCodes.FAILED,
      message: `VM ${name}: no TCP connection to port 22 within 5000 ms: ${guestAddress.address}: connect ECONNREFUSED ${guestAddress.address}:22` });

    // Without its address the guest has only loopback and (maybe) link-local ones left.
    const agent = new GuestAgent(conn, dom);
    expect((await agent.exec({ path: "/bin/sh", args: ["-c", `ip addr del ${guestAddress.cidr} dev eth0`] })).exitCode).toBe(0);
    const err = await fails({ kind: "tcp-check", vm: name, port: 7, timeoutMs: 2_000 });
    expect(err.code).toBe(StepErrorCodes.FAILED);
    expect(err.message).toMatch(new RegExp(`VM ${name}: the guest agent reported no usable address to check port 7 on .*interfaces: lo \\(127\\.0\\.0\\.1`));
  });

  it("hook: runs a listed, safe script with the VM's name; refuses a world-writable or unlisted one", async () => {
    const out = await ok<"hook">({ kind: "hook", vm: name, path: goodHook, runId: RUN, timeoutMs: 10_000 });
    expect(out).toMatchObject({ exitCode: 0, signal: null, stdout: `hook for ${name} (vm=${name} run=${RUN})\n`, stderr: "warning\n", truncated: false });
    const open = await fails({ kind: "hook", vm: name, path: openHook, runId: RUN, timeoutMs: 10_000 });
    expect(open.code).toBe(StepErrorCodes.NOT_ALLOWED);
    expect(open.message).toMatch(/is group- or world-writable \(mode 0777\)/);
    const unlisted = await fails({ kind: "hook", vm: name, path: "/bin/true", runId: RUN, timeoutMs: 10_000 });
    expect(unlisted).toMatchObject({ code: StepErrorCodes.NOT_ALLOWED, message: expect.stringMatching(/hook \/bin\/true is not listed .*maintenance\.hooks/) });
  });

  it("start: nothing to do for a running VM; starts a stopped one; guest steps on a stopped VM say it is stopped", async () => {
    printConsoleOnFailure();
    expect(await ok<"start">({ kind: "start", vm: name })).toEqual({ started: false });
    await conn.domainDestroy(dom);
    const ping = await fails({ kind: "guest-ping", vm: name });
    expect(ping).toMatchObject({ code: StepErrorCodes.GUEST_AGENT, message: expect.stringMatching(new RegExp(`VM ${name} is shutoff \\(destroyed\\)`)) });
    // A shut-off VM's snapshot holds no memory: only the headroom is needed.
    const space = await ok<"disk-space">({ kind: "disk-space", vm: name, headroomFraction: 0.5 });
    expect(space.disks[0]!.neededBytes).toBe(Math.ceil(0.5 * (await conn.domainGetBlockInfo(dom, "vda")).capacity));
    expect(await ok<"start">({ kind: "start", vm: name })).toEqual({ started: true });
    const waited = await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 90_000 });
    console.log(`start: guest agent answered ${Math.round(waited.waitedMs)} ms after the start step`);
    expect((await ok<"guest-ping">({ kind: "guest-ping", vm: name })).durationMs).toBeLessThan(3_000);
  });
});
