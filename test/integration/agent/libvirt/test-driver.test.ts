/**
 * The client against the real libvirtd, through its built-in test driver
 * (test:///default): fast and deterministic, same RPC path as qemu.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtConnection, type DomainEventSubscription } from "../../../../agent/libvirt/connection.js";
import { isNotFound, LibvirtError } from "../../../../agent/libvirt/errors.js";
import { ConnectListAllDomainsFlags, DomainSnapshotCreateFlags, ErrorCode } from "../../../../agent/libvirt/protocol.js";
import { inventoryDomains } from "../../../../agent/inventory/domains.js";
import { nextEvent, removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";

const prefix = testPrefix("td");
let conn: LibvirtConnection;
let sub: DomainEventSubscription;

beforeAll(async () => {
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  sub = await conn.domainEvents();
});

afterAll(async () => {
  await removeDomainsWithPrefix(conn, prefix);
  await sub.close();
  await conn.connectClose();
});

describe("connection and host calls", () => {
  it("reports library version, hostname, URI and node info", async () => {
    const version = await conn.connectGetLibVersion();
    expect(version.major).toBeGreaterThanOrEqual(9);
    expect(version.text).toBe(`${version.major}.${version.minor}.${version.release}`);
    expect(await conn.connectGetHostname()).toMatch(/\S/);
    expect(await conn.connectGetURI()).toBe("test:///default");
    // The test driver's node is fixed: 16 CPUs, 2 NUMA nodes, i686.
    expect(await conn.nodeGetInfo()).toMatchObject({ model: "i686", cpus: 16, nodes: 2, sockets: 2, cores: 2, threads: 2 });
  });
});

describe("domain lifecycle", () => {
  const name = `${prefix}life`;

  it("defines a domain and looks it up by name and UUID", async () => {
    const dom = await conn.domainDefineXML(testDriverDomainXml(name, { memoryMiB: 256 }));
    expect(dom.name).toBe(name);
    expect(dom.id).toBe(-1);
    expect(await conn.domainLookupByName(name)).toEqual(dom);
    expect(await conn.domainLookupByUUID(dom.uuid)).toEqual(dom);
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "shutoff" });
    expect(await conn.domainIsPersistent(dom)).toBe(true);
    const defined = await nextEvent(sub.events, (e) => e.domain.name === name);
    expect(defined).toMatchObject({ kind: "lifecycle", event: "defined", detail: "added" });
  });

  it("starts and destroys it, with each event seen within 1 s", async () => {
    const dom = await conn.domainLookupByName(name);
    let t0 = performance.now();
    const started = await conn.domainCreate(dom);
    expect(started.id).toBeGreaterThan(0);
    const startEvent = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle");
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(startEvent).toMatchObject({ event: "started", detail: "booted" });
    expect(await conn.domainGetState(started)).toEqual({ state: "running", reason: "booted", stateCode: 1, reasonCode: 1 });
    expect(await conn.domainGetInfo(started)).toMatchObject({ state: "running", maxMemoryKiB: 262144, vcpus: 1 });

    t0 = performance.now();
    await conn.domainDestroy(started);
    const stopEvent = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle");
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(stopEvent).toMatchObject({ event: "stopped", detail: "destroyed" });
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "shutoff", reason: "destroyed" });
  });

  it("shuts a running domain down gracefully", async () => {
    const dom = await conn.domainCreate(await conn.domainLookupByName(name));
    await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "started");
    await conn.domainShutdown(dom);
    const stopped = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "stopped");
    expect(stopped).toMatchObject({ detail: "shutdown" });
  });

  it("toggles autostart and reads it back", async () => {
    const dom = await conn.domainLookupByName(name);
    expect(await conn.domainGetAutostart(dom)).toBe(false);
    await conn.domainSetAutostart(dom, true);
    expect(await conn.domainGetAutostart(dom)).toBe(true);
    await conn.domainSetAutostart(dom, false);
    expect(await conn.domainGetAutostart(dom)).toBe(false);
  });

  it("returns the XML description and block info of its disk", async () => {
    const dom = await conn.domainLookupByName(name);
    const xml = await conn.domainGetXMLDesc(dom);
    expect(xml).toContain(`<name>${name}</name>`);
    expect(xml).toContain(`/var/lib/nightshift-test/${name}.img`);
    const info = await conn.domainGetBlockInfo(dom, "vda");
    expect(info.capacity).toBeGreaterThan(0);
    expect(info.physical).toBeGreaterThanOrEqual(info.allocation);
  });

  it("undefines it; lookups then fail with a typed not-found error", async () => {
    const dom = await conn.domainLookupByName(name);
    await conn.domainUndefine(dom);
    const gone = await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle");
    expect(gone).toMatchObject({ event: "undefined", detail: "removed" });
    const err = await conn.domainLookupByName(name).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(isNotFound(err)).toBe(true);
    expect((err as LibvirtError).libvirtCode).toBe(ErrorCode.VIR_ERR_NO_DOMAIN);
  });
});

describe("snapshots", () => {
  const name = `${prefix}snap`;

  it("creates, lists, looks up, describes, reverts and deletes a snapshot", async () => {
    const dom = await conn.domainCreate(await conn.domainDefineXML(testDriverDomainXml(name)));
    expect(await conn.domainSnapshotCurrent(dom)).toBeNull();
    expect(await conn.domainHasCurrentSnapshot(dom)).toBe(false);

    const snap = await conn.domainSnapshotCreateXML(dom,
      "<domainsnapshot><name>before-patch</name><description>nightshift</description></domainsnapshot>",
      DomainSnapshotCreateFlags.ATOMIC);
    expect(snap.name).toBe("before-patch");
    expect((await conn.domainListAllSnapshots(dom)).map((s) => s.name)).toEqual(["before-patch"]);
    expect(await conn.domainSnapshotLookupByName(dom, "before-patch")).toEqual(snap);
    expect((await conn.domainSnapshotCurrent(dom))?.name).toBe("before-patch");
    const xml = await conn.domainSnapshotGetXMLDesc(snap);
    expect(xml).toContain("<description>nightshift</description>");
    expect(xml).toContain("<state>running</state>");

    // Change the domain after the snapshot, then revert: it is running again, from the snapshot.
    await conn.domainDestroy(dom);
    await conn.domainRevertToSnapshot(snap);
    expect(await conn.domainGetState(dom)).toMatchObject({ state: "running", reason: "from-snapshot" });
    await nextEvent(sub.events, (e) => e.domain.name === name && e.kind === "lifecycle" && e.detail === "from-snapshot");

    await conn.domainSnapshotDelete(snap);
    expect(await conn.domainListAllSnapshots(dom)).toEqual([]);
    const err = await conn.domainSnapshotLookupByName(dom, "before-patch").catch((e: unknown) => e);
    expect((err as LibvirtError).libvirtCode).toBe(ErrorCode.VIR_ERR_NO_DOMAIN_SNAPSHOT);
  });

  it("passes snapshot flags to the driver (the test driver refuses disk-only)", async () => {
    const dom = await conn.domainLookupByName(name);
    const err = await conn.domainSnapshotCreateXML(dom, "<domainsnapshot><name>d</name></domainsnapshot>",
      DomainSnapshotCreateFlags.DISK_ONLY | DomainSnapshotCreateFlags.ATOMIC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect((err as LibvirtError).message).toMatch(/unsupported flags \(0x10\)/);
  });
});

describe("listing and inventory", () => {
  it("lists with flags and inventories state, autostart, persistence and disks of our domains", async () => {
    const names = [`${prefix}inv-a`, `${prefix}inv-b`];
    const a = await conn.domainDefineXML(testDriverDomainXml(names[0]!, { disks: ["/srv/a-root.qcow2", "/srv/a-data.qcow2"] }));
    await conn.domainDefineXML(testDriverDomainXml(names[1]!));
    await conn.domainSetAutostart(a, true);
    await conn.domainCreate(a);

    const active = await conn.connectListAllDomains(ConnectListAllDomainsFlags.ACTIVE);
    const inactive = await conn.connectListAllDomains(ConnectListAllDomainsFlags.INACTIVE);
    expect(active.map((d) => d.name)).toContain(names[0]);
    expect(inactive.map((d) => d.name)).toContain(names[1]);
    expect(active.map((d) => d.name)).not.toContain(names[1]);

    const inventory = (await inventoryDomains(conn)).filter((d) => names.includes(d.name));
    expect(inventory).toEqual([
      expect.objectContaining({ name: names[0], state: "running", stateReason: "booted", autostart: true, persistent: true,
        vcpus: 1, memoryKiB: 131072, disks: [
          expect.objectContaining({ target: "vda", source: "/srv/a-root.qcow2", driverType: "qcow2" }),
          expect.objectContaining({ target: "vdb", source: "/srv/a-data.qcow2", driverType: "qcow2" }),
        ] }),
      expect.objectContaining({ name: names[1], state: "shutoff", id: null, autostart: false }),
    ]);
  });
});

describe("guest agent on a driver without one", () => {
  it("fails with libvirt's no-support error, not a hang", async () => {
    const dom = await conn.domainLookupByName(`${prefix}inv-a`);
    const err = await conn.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 5).catch((e: unknown) => e);
    expect((err as LibvirtError).libvirtCode).toBe(ErrorCode.VIR_ERR_NO_SUPPORT);
  });
});
