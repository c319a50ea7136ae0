/**
 * The client against a real QEMU guest (busybox + qemu-guest-agent on
 * Debian's kernel) on the system libvirtd: lifecycle and its events, autostart,
 * the guest agent, and a snapshot revert that undoes a change made in the guest.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { LibvirtConnection, type DomainEventSubscription } from "../../../../agent/libvirt/connection.js";
import { GuestAgent } from "../../../../agent/libvirt/guest-agent.js";
import { GuestExecTimeoutError } from "../../../../agent/libvirt/errors.js";
import { DomainRebootFlags, DomainSnapshotCreateFlags } from "../../../../agent/libvirt/protocol.js";
import type { DomainRef } from "../../../../agent/libvirt/remote-types.js";
import { inventoryDomains } from "../../../../agent/inventory/domains.js";
import {
  ensureGuestBuilt, guestDomainXml, prepareGuestDisk, readGuestConsoleLog, removeGuestDisk, GUEST_DATA_VERSION,
} from "../../../helpers/guest.js";
import { nextEvent, removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";

const prefix = testPrefix("qemu");
const name = `${prefix}g1`;
let conn: LibvirtConnection;
let sub: DomainEventSubscription;
let dom: DomainRef;
let diskPath: string;
let agent: GuestAgent;

/** Polls guest-ping until the agent in the guest answers. */
async function waitForGuestAgent(timeoutMs = 90_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      await agent.ping();
      return Date.now() - t0;
    } catch (err) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`guest agent did not answer within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function catVersion(): Promise<string> {
  const result = await agent.exec({ path: "/bin/cat", args: ["/data/version"], timeoutMs: 10_000 });
  expect(result.exitCode).toBe(0);
  return result.stdout.trim();
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  sub = await conn.domainEvents();
  diskPath = await prepareGuestDisk(name, artifacts);
  dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
  agent = new GuestAgent(conn, dom);
});

afterAll(async () => {
  await removeDomainsWithPrefix(conn, prefix);
  await removeGuestDisk(diskPath);
  await sub.close();
  await conn.connectClose();
});

// Booting under TCG, reverting and rebooting take seconds each.
describe("a real QEMU guest", { timeout: 120_000 }, () => {
  it("starts, with the started event seen within 1 s, and its guest agent comes up", async () => {
    onTestFailed(async () => { console.log(await readGuestConsoleLog(name)); });
    const t0 = performance.now();
    dom = await conn.domainCreate(dom);
    const started = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "started");
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(started).toMatchObject({ event: "started", detail: "booted" });
    const agentUpMs = await waitForGuestAgent();
    const connected = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "agent-lifecycle", 5_000);
    expect(connected).toMatchObject({ state: "connected" });
    console.log(`guest agent answered ${agentUpMs} ms after start`);
  });

  it("inventories the guest with its qcow2 disk", async () => {
    const mine = (await inventoryDomains(conn)).find((d) => d.name === name)!;
    expect(mine).toMatchObject({ state: "running", stateReason: "booted", persistent: true, vcpus: 1, memoryKiB: 192 * 1024 });
    expect(mine.disks).toEqual([expect.objectContaining({ target: "vda", source: diskPath, driverType: "qcow2", type: "file" })]);
    const block = await conn.domainGetBlockInfo(dom, "vda");
    expect(block.capacity).toBeGreaterThanOrEqual(32 * 1024 * 1024);
  });

  it("toggles autostart and reads it back", async () => {
    await conn.domainSetAutostart(dom, true);
    expect(await conn.domainGetAutostart(dom)).toBe(true);
    await conn.domainSetAutostart(dom, false);
    expect(await conn.domainGetAutostart(dom)).toBe(false);
  });

  it("runs guest commands with captured output, exit codes and a timeout", async () => {
    expect(await catVersion()).toBe(GUEST_DATA_VERSION);
    const failing = await agent.exec({ path: "/bin/sh", args: ["-c", "echo out; echo err >&2; exit 3"] });
    expect(failing).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    const withInput = await agent.exec({ path: "/bin/cat", input: "from stdin" });
    expect(withInput.stdout).toBe("from stdin");
    const t0 = Date.now();
    const slow = await agent.exec({ path: "/bin/sleep", args: ["5"], timeoutMs: 500 }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(GuestExecTimeoutError);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("answers the informational guest-agent calls", async () => {
    const os = await agent.getOsInfo();
    expect(os.kernelRelease).toMatch(/^6\.1\./);
    expect(os.machine).toBe("x86_64");
    const ifaces = await agent.getNetworkInterfaces();
    expect(ifaces.find((i) => i.name === "lo")?.addresses).toContainEqual({ type: "ipv4", address: "127.0.0.1", prefix: 8 });
    expect(Array.isArray(await agent.getUsers())).toBe(true);
  });

  it("reverts an internal snapshot and brings back the file guest-exec changed", async () => {
    onTestFailed(async () => { console.log(await readGuestConsoleLog(name)); });
    const snap = await conn.domainSnapshotCreateXML(dom,
      "<domainsnapshot><name>pre-change</name><description>before v2</description></domainsnapshot>",
      DomainSnapshotCreateFlags.ATOMIC);
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).toEqual(["pre-change"]);
    expect((await conn.domainSnapshotCurrent(dom))?.name).toBe("pre-change");
    expect(await conn.domainSnapshotGetXMLDesc(snap)).toMatch(/<state>running<\/state>[\s\S]*<memory snapshot='internal'/);

    const write = await agent.exec({ path: "/bin/sh", args: ["-c", "echo v2 > /data/version && sync"] });
    expect(write.exitCode).toBe(0);
    expect(await catVersion()).toBe("v2");

    const t0 = Date.now();
    await conn.domainRevertToSnapshot(snap);
    await waitForGuestAgent(30_000);
    console.log(`revert + guest agent answering again: ${Date.now() - t0} ms`);
    expect(await catVersion()).toBe(GUEST_DATA_VERSION);
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "running" });

    await conn.domainSnapshotDelete(snap);
    expect(await conn.domainListAllSnapshots(dom)).toEqual([]);
  });

  it("reboots through the guest agent, with a reboot event", async () => {
    await conn.domainReboot(dom, DomainRebootFlags.GUEST_AGENT);
    const reboot = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "reboot", 30_000);
    expect(reboot.domain.uuid).toBe(dom.uuid);
    await waitForGuestAgent();
  });

  it("shuts down gracefully, with the stopped event and reason", async () => {
    await conn.domainShutdown(dom);
    const stopped = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "stopped", 30_000);
    expect(stopped.kind === "lifecycle" && stopped.detail).toBe("shutdown");
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "shutoff", reason: "shutdown" });
  });

  it("destroys a running guest, with the event seen within 1 s", async () => {
    dom = await conn.domainCreate(dom);
    await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "started", 5_000);
    await waitForGuestAgent();
    // libvirt answers destroy only after QEMU has exited (~2 s under TCG) and
    // emits the event at that same moment: measure from the state change.
    const t0 = Date.now();
    await conn.domainDestroy(dom);
    const stateChangedAt = Date.now();
    const stopped = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "stopped");
    expect(stopped.receivedAt.getTime() - stateChangedAt).toBeLessThan(1_000);
    expect(stopped.kind === "lifecycle" && stopped.detail).toBe("destroyed");
    console.log(`destroy took ${stateChangedAt - t0} ms; event ${stopped.receivedAt.getTime() - stateChangedAt} ms after it returned`);
  });
});
