/**
 * The NIC netconsole names for an emergency boot, from sysfs trees shaped as
 * the kernel writes them (a physical NIC has `device`; bridges `bridge/` and
 * `brif/`; bonds `bonding/mode` and `bonding/active_slave`; uevent's DEVTYPE).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { emergencyDevice, NetSysfs } from "../../../../agent/netconsole/emergency-device.js";
import { configureNetconsole } from "../../../../agent/netconsole/configure.js";

type Iface = { physical?: boolean; devtype?: string; ports?: string[]; bond?: { mode: string; active?: string } };

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function sysTree(ifaces: Record<string, Iface>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ns-sysnet-"));
  roots.push(root);
  for (const [name, i] of Object.entries(ifaces)) {
    const dir = path.join(root, "sys/class/net", name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "uevent"), `${i.devtype ? `DEVTYPE=${i.devtype}\n` : ""}INTERFACE=${name}\nIFINDEX=2\n`);
    if (i.physical) fs.mkdirSync(path.join(dir, "device"));
    if (i.ports) {
      fs.mkdirSync(path.join(dir, "bridge"));
      fs.mkdirSync(path.join(dir, "brif"));
      for (const p of i.ports) fs.mkdirSync(path.join(dir, "brif", p));
    }
    if (i.bond) {
      fs.mkdirSync(path.join(dir, "bonding"));
      fs.writeFileSync(path.join(dir, "bonding/mode"), `${i.bond.mode}\n`);
      fs.writeFileSync(path.join(dir, "bonding/active_slave"), `${i.bond.active ?? ""}\n`);
    }
  }
  return root;
}

const device = (iface: string, tree: Record<string, Iface>) => emergencyDevice(iface, new NetSysfs(sysTree(tree)));

describe("the NIC netconsole names for an emergency boot", () => {
  it("a physical NIC is itself", () => {
    expect(device("eno1", { eno1: { physical: true } })).toEqual({ ok: true, device: "eno1", via: null });
  });

  it("a bridge over one NIC and the VMs' taps is that NIC", () => {
    const tree = { br0: { devtype: "bridge", ports: ["eno1", "vnet0", "vnet1"] }, eno1: { physical: true }, vnet0: {}, vnet1: {} };
    expect(device("br0", tree)).toEqual({ ok: true, device: "eno1", via: "port of bridge br0" });
  });

  it("a bridge over an active-backup bond is the bond's active slave", () => {
    const tree = {
      br0: { devtype: "bridge", ports: ["bond0", "vnet3"] }, vnet3: {},
      bond0: { devtype: "bond", bond: { mode: "active-backup 1", active: "enp2s0" } }, enp2s0: { physical: true }, enp3s0: { physical: true },
    };
    expect(device("br0", tree)).toEqual({ ok: true, device: "enp2s0", via: "active slave of bond bond0, port of bridge br0" });
  });

  it("says why not: a bridge of taps only, a bridge over two NICs, an LACP bond, a VLAN, a tunnel, a missing interface", () => {
    expect(device("virbr0", { virbr0: { devtype: "bridge", ports: ["vnet0"] }, vnet0: {} }))
      .toEqual({ ok: false, reason: expect.stringContaining("bridge virbr0 has no physical port beneath it (ports: vnet0)") });
    expect(device("br0", { br0: { devtype: "bridge", ports: ["eno1", "eno2"] }, eno1: { physical: true }, eno2: { physical: true } }))
      .toEqual({ ok: false, reason: expect.stringContaining("several physical ports (eno1, eno2)") });
    expect(device("bond0", { bond0: { devtype: "bond", bond: { mode: "802.3ad 4", active: "" } }, eno1: { physical: true } }))
      .toEqual({ ok: false, reason: expect.stringContaining("bond bond0 in mode 802.3ad") });
    expect(device("eno1.100", { "eno1.100": { devtype: "vlan" } }))
      .toEqual({ ok: false, reason: expect.stringContaining("eno1.100 is a VLAN interface") });
    expect(device("wg0", { wg0: { devtype: "wireguard" } }))
      .toEqual({ ok: false, reason: expect.stringContaining("wg0 is a virtual interface (wireguard)") });
    expect(device("eth9", { eno1: { physical: true } })).toEqual({ ok: false, reason: "no interface eth9 in /sys/class/net" });
  });

  it("a bridge that is its own port (a damaged tree) ends", () => {
    expect(device("br0", { br0: { devtype: "bridge", ports: ["br0"] } })).toMatchObject({ ok: false });
  });

  it("the options written for a host whose controller route is a bridge name the NIC beneath it", () => {
    const sysRoot = sysTree({ br0: { devtype: "bridge", ports: ["eno1", "vnet0"] }, eno1: { physical: true }, vnet0: {} });
    const file = path.join(sysRoot, "nightshift-netconsole.conf");
    const proc: Record<string, string> = {
      "/proc/net/route": "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\nbr0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
      "/proc/net/arp": "IP address       HW type     Flags       HW address            Mask     Device\n10.77.0.1        0x1         0x2         52:54:00:aa:bb:01     *        br0\n",
    };
    const outcome = configureNetconsole({ localAddress: "10.77.0.5", controllerAddress: "10.77.0.1", port: 6666 },
      { file, sysRoot, readProc: (f) => proc[f]! });
    expect(outcome).toEqual({ state: "configured", changed: true, file, device: "eno1", via: "port of bridge br0",
      options: "netconsole=6665@10.77.0.5/eno1,6666@10.77.0.1/52:54:00:aa:bb:01" });
    expect(fs.readFileSync(file, "utf8")).toContain("options netconsole netconsole=6665@10.77.0.5/eno1,6666@10.77.0.1/52:54:00:aa:bb:01\n");
    // A VLAN route: nothing written, the reason returned.
    const vlanRoot = sysTree({ "eno1.20": { devtype: "vlan" } });
    const vlanProc = Object.fromEntries(Object.entries(proc).map(([k, v]) => [k, v.replaceAll("br0", "eno1.20")]));
    const vlanFile = path.join(vlanRoot, "nightshift-netconsole.conf");
    expect(configureNetconsole({ localAddress: "10.77.0.5", controllerAddress: "10.77.0.1", port: 6666 },
      { file: vlanFile, sysRoot: vlanRoot, readProc: (f) => vlanProc[f]! })).toMatchObject({ state: "unavailable", reason: expect.stringContaining("VLAN") });
    expect(fs.existsSync(vlanFile)).toBe(false);
  });
});
