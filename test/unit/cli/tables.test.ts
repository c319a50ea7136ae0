/** The CLI's human output: relative times, aligned tables, the status summary. */
import { describe, expect, it } from "vitest";
import { expectAligned } from "../../helpers/table-assert.js";
import { formatData, formatKeyValues, formatUptime, orDash, relativeTime } from "../../../cli/format.js";
import { enrollGuidance, hostsTable, libvirtColumn } from "../../../cli/hosts.js";
import { formatDisks, staleInventoryNotes, vmsTable } from "../../../cli/vms.js";
import { eventsTable } from "../../../cli/events.js";
import { statusText } from "../../../cli/status.js";
import type { EventRecord, HostRecord, VmRecord } from "../../../shared/api.js";

const NOW = Date.parse("2026-11-23T12:00:00.000Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

describe("relativeTime", () => {
  it.each([
    [0, "0s ago"], [12_400, "12s ago"], [59_999, "59s ago"], [60_000, "1m ago"], [59 * 60_000, "59m ago"],
    [3_600_000, "1h ago"], [47 * 3_600_000, "47h ago"], [48 * 3_600_000, "2d ago"], [30 * 86_400_000, "30d ago"],
  ])("%i ms ago -> %s", (ms, text) => {
    expect(relativeTime(ago(ms), NOW)).toBe(text);
  });

  it("never for null; a time ahead of our clock reads as 0s ago", () => {
    expect(relativeTime(null, NOW)).toBe("never");
    expect(relativeTime(ago(-5_000), NOW)).toBe("0s ago");
  });
});

describe("small formatters", () => {
  it("uptime", () => {
    expect(formatUptime(5)).toBe("5s");
    expect(formatUptime(125)).toBe("2m 5s");
    expect(formatUptime(3 * 3600 + 12 * 60 + 9)).toBe("3h 12m");
    expect(formatUptime(2 * 86_400 + 5 * 3600)).toBe("2d 5h");
  });

  it("dashes for missing values, key=value for event data", () => {
    expect([orDash(null), orDash(undefined), orDash(""), orDash(0), orDash("x")]).toEqual(["-", "-", "-", "0", "x"]);
    expect(formatData({ count: 3, reason: "spool full", ids: ["a"] })).toBe('count=3 reason=spool full ids=["a"]');
    expect(formatData(null)).toBe("");
  });

  it("aligned key-value lines", () => {
    expect(formatKeyValues([["a", "1"], ["long key", "2"]])).toBe("a         1\nlong key  2\n");
  });
});

const host = (over: Partial<HostRecord>): HostRecord => ({
  name: "web1", status: "up", connected: true, lastSeenAt: ago(12_000), hostname: "web1.example",
  agentVersion: "0.1.0", libvirtVersion: "9.0.0", libvirt: { state: "connected", code: null, detail: null, since: ago(60_000) },
  vms: 3, enrolledAt: ago(86_400_000), emergency: null, ...over,
});

describe("hosts", () => {
  it("prints the header alone for no hosts", () => {
    expect(hostsTable([], NOW)).toBe("NAME  STATUS  CONNECTED  LAST-SEEN  VMS  AGENT  LIBVIRT\n");
  });

  it("one row per host, last seen relative, dashes before the agent's hello", () => {
    const text = hostsTable([
      host({}),
      host({ name: "hypervisor-02", status: "enrolled", connected: false, lastSeenAt: null, agentVersion: null, libvirtVersion: null, vms: 0 }),
    ], NOW);
    const [, up, enrolled] = text.trimEnd().split("\n");
    expect(up).toMatch(/^web1\s+up\s+yes\s+12s ago\s+3\s+0\.1\.0\s+9\.0\.0$/);
    expect(enrolled).toMatch(/^hypervisor-02\s+enrolled\s+no\s+never\s+0\s+-\s+-$/);
    for (const column of ["STATUS", "CONNECTED", "LAST-SEEN", "VMS", "AGENT", "LIBVIRT"]) expectAligned(text, column);
  });

  it("LIBVIRT says unreachable and why in a few words instead of the version while the agent cannot reach libvirt", () => {
    const down = (code: string | null) => host({ libvirt: { state: "unreachable", code, detail: "x", since: ago(5_000) } });
    const text = hostsTable([down("NS_ERR_LIBVIRT_SOCKET_MISSING"), host({ name: "web2", libvirt: null })], NOW);
    const [, web1, web2] = text.trimEnd().split("\n");
    expect(web1).toMatch(/\s0\.1\.0\s+unreachable \(socket missing\)$/);
    // An agent that never said (older than the controller): the version, as before.
    expect(web2).toMatch(/\s9\.0\.0$/);
    expectAligned(text, "LIBVIRT");
    expect(libvirtColumn(down("NS_ERR_LIBVIRT_ACCESS_DENIED"))).toBe("unreachable (access denied)");
    expect(libvirtColumn(down("NS_ERR_LIBVIRT_UNREACHABLE"))).toBe("unreachable (not answering)");
    expect(libvirtColumn(down("NS_ERR_LIBVIRT_INTERRUPTED"))).toBe("unreachable (connection lost)");
    expect(libvirtColumn(down("NS_ERR_LIBVIRT_URI"))).toBe("unreachable (uri)");
    expect(libvirtColumn(down(null))).toBe("unreachable (no reason given)");
  });

  it("enroll's guidance names the host and the token file with its mode, and never the token", () => {
    const text = enrollGuidance({ name: "web1", token: "nsh_secret", enrolledAt: ago(0) });
    expect(text).toContain("/etc/nightshift/agent.token");
    expect(text).toContain("0600");
    expect(text).toContain("web1");
    expect(text).not.toContain("nsh_secret");
  });
});

const vm = (over: Partial<VmRecord>): VmRecord => ({
  host: "web1", name: "db1", uuid: "3d0c3d0c-0000-4000-8000-000000000001", state: "running", stateReason: "booted",
  autostart: true, persistent: true, vcpus: 2, memoryKiB: 2 * 1024 * 1024, maxMemoryKiB: 2 * 1024 * 1024,
  disks: [{ target: "vda", bus: "virtio", device: "disk", type: "file", source: "/var/lib/libvirt/images/db1.qcow2",
    driverType: "qcow2", readonly: false, shareable: false }],
  updatedAt: ago(1000), ...over,
});

describe("vms", () => {
  it("prints the header alone for no VMs", () => {
    expect(vmsTable([])).toBe("HOST  NAME  STATE  AUTOSTART  VCPUS  MEMORY  DISKS\n");
  });

  it("one row per VM with memory in MiB/GiB and disks as target=source (format)", () => {
    const text = vmsTable([
      vm({}),
      vm({ host: "web2", name: "cache", state: "shutoff", autostart: false, vcpus: 1, memoryKiB: 196_608, disks: [] }),
    ]);
    const [, db1, cache] = text.trimEnd().split("\n");
    expect(db1).toMatch(/^web1\s+db1\s+running\s+yes\s+2\s+2 GiB\s+vda=\/var\/lib\/libvirt\/images\/db1\.qcow2 \(qcow2\)$/);
    expect(cache).toMatch(/^web2\s+cache\s+shutoff\s+no\s+1\s+192 MiB\s+-$/);
    for (const column of ["NAME", "STATE", "AUTOSTART", "VCPUS", "MEMORY", "DISKS"]) expectAligned(text, column);
  });

  it("disks without a source or format", () => {
    expect(formatDisks([{ target: "sda", bus: "sata", device: "cdrom", type: "file", source: null, driverType: null,
      readonly: true, shareable: false }, vm({}).disks[0]!])).toBe("sda=-, vda=/var/lib/libvirt/images/db1.qcow2 (qcow2)");
  });

  it("says how many disks the inventory left out", () => {
    const text = vmsTable([vm({ disksTruncated: 44 })]);
    expect(text.trimEnd().split("\n")[1]).toMatch(/vda=\/var\/lib\/libvirt\/images\/db1\.qcow2 \(qcow2\), \+44 more not listed$/);
  });

  it("notes each listed host whose libvirt is unreachable: its VMs are as last reported", () => {
    const since = "2026-11-23T11:00:00.000Z";
    const hosts = [
      host({ libvirt: { state: "unreachable", code: "NS_ERR_LIBVIRT_SOCKET_MISSING", detail: "x", since } }),
      host({ name: "web2" }),
      host({ name: "web3", libvirt: { state: "unreachable", code: "NS_ERR_LIBVIRT_UNREACHABLE", detail: "x", since } }),
    ];
    expect(staleInventoryNotes(hosts, [vm({}), vm({ host: "web2" })]))
      .toBe(`note: libvirt on web1 is unreachable since ${since} (socket missing): its VMs are shown as last reported\n`);
    expect(staleInventoryNotes(hosts, [vm({ host: "web2" })])).toBe("");
  });
});

const event = (over: Partial<EventRecord>): EventRecord => ({
  seq: 1, id: "e1", time: "2026-11-23T11:59:00.000Z", receivedAt: "2026-11-23T11:59:00.010Z", host: "web1",
  kind: "lifecycle", vm: "db1", uuid: "3d0c", event: "stopped", detail: "destroyed", data: null, ...over,
});

describe("events", () => {
  it("prints the header alone for no events", () => {
    expect(eventsTable([])).toBe("TIME  AGENT-TIME  HOST  KIND  VM  EVENT  DETAIL\n");
  });

  it("libvirt events with their detail; host events with dashes or their data", () => {
    const text = eventsTable([
      event({}),
      event({ seq: 2, kind: "host", vm: null, uuid: null, event: "enrolled", detail: null }),
      event({ seq: 3, kind: "host", vm: null, uuid: null, event: "events-lost", detail: null, data: { count: 12 } }),
      event({ seq: 4, kind: "reboot", event: null, detail: null }),
    ]);
    const rows = text.trimEnd().split("\n").slice(1);
    // TIME is the receipt; the agent's time 10 ms before it is not worth a column.
    expect(rows[0]).toMatch(/^2026-11-23T11:59:00\.010Z\s+-\s+web1\s+lifecycle\s+db1\s+stopped\s+destroyed$/);
    expect(rows[1]).toMatch(/\s+host\s+-\s+enrolled\s+-$/);
    expect(rows[2]).toMatch(/\s+events-lost\s+count=12$/);
    expect(rows[3]).toMatch(/\s+reboot\s+db1\s+-\s+-$/);
    for (const column of ["AGENT-TIME", "HOST", "KIND", "VM", "EVENT", "DETAIL"]) expectAligned(text, column);
  });

  it("shows the agent's time where it is more than 60 s from the receipt, either way", () => {
    const rows = eventsTable([
      event({ time: "2026-11-23T11:58:00.010Z" }),
      event({ time: "2026-11-23T11:57:59.999Z" }),
      event({ time: "2999-01-01T00:00:00.000Z" }),
    ]).trimEnd().split("\n").slice(1);
    expect(rows[0]).toMatch(/^2026-11-23T11:59:00\.010Z\s+-\s+web1/);
    expect(rows[1]).toMatch(/^2026-11-23T11:59:00\.010Z\s+2026-11-23T11:57:59\.999Z\s+web1/);
    expect(rows[2]).toMatch(/^2026-11-23T11:59:00\.010Z\s+2999-01-01T00:00:00\.000Z\s+web1/);
  });
});

describe("status", () => {
  it("summarizes hosts by status and VMs by state", () => {
    const text = statusText({
      version: "0.1.0", uptimeSeconds: 3 * 3600 + 60, agentsConnected: 1, eventsStored: 1234,
      hosts: { total: 3, up: 1, missing: 1, enrolled: 1, revoked: 0 },
      vms: { total: 5, byState: { shutoff: 2, running: 3 } },
    }, "http://controller:8650");
    expect(text).toBe([
      "controller  http://controller:8650 (version 0.1.0, up 3h 1m)",
      "hosts       3 total: 1 up, 1 missing, 1 enrolled, 0 revoked",
      "agents      1 connected",
      "vms         5 total: 3 running, 2 shutoff",
      "events      1234 stored",
      "",
    ].join("\n"));
  });
});
