/**
 * Snapshot mode disk-only-quiesce against the real libvirtd (9.0, which can
 * neither revert nor delete external snapshots itself) and one real QEMU
 * guest (busybox + qemu-ga, /data/version = "v1"), through the StepExecutor
 * and the real action registry.
 *
 * A second domain has the guest-agent channel but boots nothing (SeaBIOS finds
 * no bootable disk), so its agent never answers.
 *
 * Guest boots: one at the start, one per revert (a revert destroys the VM and
 * starts it on its original image), one after the delete of a VM that was off.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { pino } from "pino";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { parseDomainDisks } from "../../../../agent/libvirt/domain-xml.js";
import { GuestAgent } from "../../../../agent/libvirt/guest-agent.js";
import { DomainBlockCommitFlags, DomainXmlFlags } from "../../../../agent/libvirt/protocol.js";
import type { DomainRef } from "../../../../agent/libvirt/remote-types.js";
import { STEP_HANDLERS } from "../../../../agent/maintenance/actions/index.js";
import { StepExecutor } from "../../../../agent/maintenance/step-executor.js";
import { StepErrorCodes, type StepResultOf } from "../../../../shared/protocol/steps.js";
import { snapshotName } from "../../../../shared/runs.js";
import {
  ensureGuestBuilt, GUEST_AGENT_CHANNEL, GUEST_DATA_VERSION, GUEST_IMAGES_DIR, guestDomainXml, prepareGuestDisk, readGuestConsoleLog,
  removeGuestDisk,
} from "../../../helpers/guest.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";
import { stepRunner } from "../../../helpers/steps.js";

const prefix = testPrefix("diskonly");
const name = `${prefix}g1`;
const noAgentName = `${prefix}noagent`;
const READ_VERSION = "cat /data/version";
/** The name the agent gives snapshot number n of `vm` (it touches no other): as if each were taken by its own run. */
const snap = (n: number, vm = name): string => snapshotName(`20261123-020501-${n.toString(16).padStart(4, "0")}`, vm);
const S1 = snap(1), S1B = snap(0x1b), S2 = snap(2), S3 = snap(3), S4 = snap(4), S5 = snap(5), I0 = snap(0x10), I1 = snap(0x11);
const S0 = snap(0, noAgentName);

let conn: LibvirtConnection;
let dom: DomainRef;
let diskPath: string;
let noAgentDisk: string;
let steps: StepExecutor;
const timings: Record<string, number[]> = {};

const { ok, fails } = stepRunner(() => steps, { timings });

async function exec(command: string): Promise<string> {
  const out = await ok<"guest-exec">({ kind: "guest-exec", vm: name, command, timeoutMs: 20_000 });
  expect(out.exitCode, out.stderr).toBe(0);
  return out.stdout.trim();
}

const version = (): Promise<string> => exec(READ_VERSION);
const writeVersion = (v: string): Promise<string> => exec(`echo ${v} > /data/version && sync`);

function create(snapshot: string, vm = name): Promise<StepResultOf<"snapshot-create">> {
  return ok<"snapshot-create">({ kind: "snapshot-create", vm, name: snapshot, description: "test", mode: "disk-only-quiesce" });
}

async function waitAgent(): Promise<void> {
  await ok<"wait-guest-agent">({ kind: "wait-guest-agent", vm: name, timeoutMs: 90_000 });
}

/** Source of vda in the running and in the persistent definition. */
async function sources(): Promise<{ live: string | null; inactive: string | null }> {
  const active = await conn.domainIsActive(dom);
  const live = active ? parseDomainDisks(await conn.domainGetXMLDesc(dom))[0]?.source ?? null : null;
  const inactive = parseDomainDisks(await conn.domainGetXMLDesc(dom, DomainXmlFlags.INACTIVE))[0]?.source ?? null;
  return { live, inactive };
}

function overlay(snapshot: string): string {
  return `${diskPath}.${snapshot}.qcow2`;
}

/** Files in the images directory that belong to this test's guest, besides its disk and console log. */
function leftovers(): string[] {
  const base = path.basename(diskPath);
  return fs.readdirSync(GUEST_IMAGES_DIR).filter((f) => f.startsWith(`${base}.`));
}

async function snapshots(): Promise<string[]> {
  return (await conn.domainListAllSnapshots(dom)).map((s) => s.name).sort();
}

/** After a revert: the VM runs again on its own disk with the guest's first data, its agent answers, no overlay is left. */
async function expectRevertedToOriginal(reverted: StepResultOf<"snapshot-revert">): Promise<void> {
  expect(reverted.state).toBe("running");
  dom = await conn.domainLookupByName(name);
  await waitAgent();
  expect(await version()).toBe(GUEST_DATA_VERSION);
  expect(leftovers()).toEqual([]);
  expect(await sources()).toEqual({ live: diskPath, inactive: diskPath });
}

function printConsoleOnFailure(): void {
  onTestFailed(async () => { console.log(`console of ${name}:\n${(await readGuestConsoleLog(name)).slice(-4000)}`); });
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  steps = new StepExecutor({
    handlers: STEP_HANDLERS, libvirt: () => conn, libvirtUri: "qemu:///system",
    config: { guestCommands: [], allowAnyGuestCommand: true, hooks: [] }, logger: pino({ level: "silent" }),
  });
  diskPath = await prepareGuestDisk(name, artifacts);
  dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
  dom = await conn.domainCreate(dom);

  noAgentDisk = path.join(GUEST_IMAGES_DIR, `${noAgentName}.qcow2`);
  await promisify(execFile)("qemu-img", ["create", "-q", "-f", "qcow2", noAgentDisk, "16M"]);
  const noAgent = await conn.domainDefineXML(`<domain type='qemu'><name>${noAgentName}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>` +
    "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>" +
    `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${noAgentDisk}'/><target dev='vda' bus='virtio'/></disk>` +
    `<channel type='unix'><target type='virtio' name='${GUEST_AGENT_CHANNEL}'/></channel><memballoon model='none'/></devices></domain>`);
  await conn.domainCreate(noAgent);
  await waitAgent();
});

afterAll(async () => {
  console.log(`step times (ms): ${JSON.stringify(timings)}`);
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  if (diskPath) {
    for (const f of leftovers()) fs.rmSync(path.join(GUEST_IMAGES_DIR, f), { force: true });
    await removeGuestDisk(diskPath);
  }
  if (noAgentDisk) fs.rmSync(noAgentDisk, { force: true });
});

describe("disk-only-quiesce snapshots against a real QEMU guest", { timeout: 180_000 }, () => {
  it("create refuses a VM whose guest agent does not answer, and leaves nothing behind", async () => {
    const err = await fails({ kind: "snapshot-create", vm: noAgentName, name: S0, description: "", mode: "disk-only-quiesce" });
    expect(err.code).toBe(StepErrorCodes.FAILED);
    expect(err.message).toMatch(/guest agent does not answer .*cannot be quiesced and no disk-only-quiesce snapshot was taken/);
    expect(fs.existsSync(`${noAgentDisk}.${S0}.qcow2`)).toBe(false);
    expect(await ok<"snapshot-exists">({ kind: "snapshot-exists", vm: noAgentName, name: S0 })).toEqual({ exists: false });
  });

  it("create asks the guest agent to freeze: with the guest's filesystems already frozen it fails and leaves nothing", async () => {
    printConsoleOnFailure();
    const agent = new GuestAgent(conn, dom);
    expect(await agent.command<number>("guest-fsfreeze-freeze")).toBe(1);
    try {
      const err = await fails({ kind: "snapshot-create", vm: name, name: S1, description: "", mode: "disk-only-quiesce" });
      expect(err.code).toBe(StepErrorCodes.FAILED);
      expect(err.message).toMatch(/the guest could not be quiesced, so no snapshot was taken .*guest-fsfreeze-freeze/);
    } finally {
      await agent.command("guest-fsfreeze-thaw");
    }
    expect(leftovers()).toEqual([]);
    expect(await snapshots()).toEqual([]);
    expect(await sources()).toEqual({ live: diskPath, inactive: diskPath });
  });

  it("create: overlays named after the snapshot, the guest thawed again, idempotent by name", async () => {
    const created = await create(S1);
    expect(created).toMatchObject({ name: S1, created: true, withMemory: false });
    console.log(`disk-only-quiesce create: ${Math.round(created.durationMs)} ms`);
    expect(await sources()).toEqual({ live: overlay(S1), inactive: overlay(S1) });
    expect(leftovers()).toEqual([path.basename(overlay(S1))]);
    expect(await new GuestAgent(conn, dom).command("guest-fsfreeze-status")).toBe("thawed");
    expect(await create(S1)).toMatchObject({ created: false, withMemory: false });
    // One level of overlay: a second external snapshot on top is refused.
    const err = await fails({ kind: "snapshot-create", vm: name, name: S1B, description: "", mode: "disk-only-quiesce" });
    expect(err.message).toContain(`already has the external snapshot ${S1}`);
    // Nor an internal one, which would live in the overlay.
    const internal = await fails({ kind: "snapshot-create", vm: name, name: I0, description: "", mode: "internal" });
    expect(internal.message).toContain(`has the external snapshot ${S1}: its disks are on that snapshot's overlays`);
  });

  it("revert: the patch's v2 is gone, v1 is back, the guest agent answers, no overlay, the domain on its disk", async () => {
    printConsoleOnFailure();
    await writeVersion("v2");
    expect(await version()).toBe("v2");
    const reverted = await ok<"snapshot-revert">({ kind: "snapshot-revert", vm: name, name: S1 });
    console.log(`disk-only revert: ${Math.round(reverted.durationMs)} ms`);
    await expectRevertedToOriginal(reverted);
    expect(await snapshots()).toEqual([]);
  });

  it("revert finishes a revert that stopped after destroying the VM", async () => {
    printConsoleOnFailure();
    await create(S2);
    await writeVersion("v2");
    await conn.domainDestroy(dom); // the first attempt got this far
    const reverted = await ok<"snapshot-revert">({ kind: "snapshot-revert", vm: name, name: S2 });
    await expectRevertedToOriginal(reverted);
  });

  it("delete of a running VM merges the overlay: v3 stays, no overlay, the domain back on its disk", async () => {
    await create(S3);
    await writeVersion("v3");
    const started = performance.now();
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: S3 })).toEqual({ deleted: true });
    console.log(`disk-only delete (block commit + pivot): ${Math.round(performance.now() - started)} ms`);
    expect(await sources()).toEqual({ live: diskPath, inactive: diskPath });
    expect(leftovers()).toEqual([]);
    expect(await snapshots()).toEqual([]);
    expect(await version()).toBe("v3");
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: S3 })).toEqual({ deleted: false });
  });

  it("delete finishes a commit that an earlier attempt started", async () => {
    await create(S4);
    await writeVersion("v4");
    await conn.domainBlockCommit(dom, { disk: "vda", base: null, top: null, bandwidth: 0,
      flags: DomainBlockCommitFlags.ACTIVE | DomainBlockCommitFlags.SHALLOW });
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: S4 })).toEqual({ deleted: true });
    expect(await sources()).toEqual({ live: diskPath, inactive: diskPath });
    expect(leftovers()).toEqual([]);
    // Read from the disk, not the guest's page cache: the merged image has v4.
    expect(await exec("sync && echo 3 > /proc/sys/vm/drop_caches && cat /data/version")).toBe("v4");
  });

  it("an internal snapshot still works on the disk afterwards", async () => {
    const internal = await ok<"snapshot-create">({ kind: "snapshot-create", vm: name, name: I1, description: "", mode: "internal" });
    expect(internal).toMatchObject({ created: true, withMemory: true });
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: I1 })).toEqual({ deleted: true });
  });

  it("delete of a VM that is off: qemu-img commit, the definition back on its disk; the data is there at the next start", async () => {
    printConsoleOnFailure();
    await create(S5);
    await writeVersion("v5");
    await conn.domainDestroy(dom);
    const started = performance.now();
    expect(await ok<"snapshot-delete">({ kind: "snapshot-delete", vm: name, name: S5 })).toEqual({ deleted: true });
    console.log(`disk-only delete of a VM that is off (qemu-img commit): ${Math.round(performance.now() - started)} ms`);
    expect(await sources()).toEqual({ live: null, inactive: diskPath });
    expect(leftovers()).toEqual([]);
    dom = await conn.domainCreate(dom);
    await waitAgent();
    expect(await version()).toBe("v5");
  });
});
