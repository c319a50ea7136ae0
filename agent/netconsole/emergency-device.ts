/**
 * The interface netconsole must name for a boot that stops in emergency mode.
 * There, only what the kernel and udev make exists: physical NICs. A bridge,
 * a bond or a VLAN is created by user space (ifupdown, systemd-networkd,
 * NetworkManager) later in a normal boot, so a netconsole pointed at br0 finds
 * no device and sends nothing, although the live host reaches the controller
 * through br0. (netconsole would also refuse a bridge's port while it is
 * enslaved, but in emergency mode nothing is enslaved.)
 *
 * So the route's interface is followed down to the one physical NIC beneath
 * it: a bridge's single physical port, an active-backup bond's active slave.
 * What cannot be resolved that way (a VLAN: netconsole would send untagged; a
 * bond in a mode whose ports do not pass traffic alone; a bridge with several
 * physical ports; a tunnel) is a reason, reported as a finding.
 *
 * Read from sysfs only (plain file reads; the agent's sandbox has no AF_NETLINK):
 * `device` (a physical NIC), `uevent`'s DEVTYPE, `brif/`, `bonding/`.
 */
import fs from "node:fs";
import path from "node:path";

export type EmergencyDevice =
  | { ok: true; device: string; /** How it was found, e.g. "port of bridge br0"; null: the route's interface itself. */ via: string | null }
  | { ok: false; reason: string };

/** Reads /sys/class/net under a root (a fixture tree in tests). */
export class NetSysfs {
  constructor(private readonly root = "/") {}

  private file(iface: string, rel = ""): string {
    return path.join(this.root, "sys/class/net", iface, rel);
  }

  has(iface: string, rel = ""): boolean {
    return fs.existsSync(this.file(iface, rel));
  }

  read(iface: string, rel: string): string | null {
    try {
      return fs.readFileSync(this.file(iface, rel), "utf8").trim();
    } catch {
      return null;
    }
  }

  list(iface: string, rel: string): string[] {
    try {
      return fs.readdirSync(this.file(iface, rel)).sort();
    } catch {
      return [];
    }
  }

  devtype(iface: string): string | null {
    return /^DEVTYPE=(.+)$/m.exec(this.read(iface, "uevent") ?? "")?.[1] ?? null;
  }
}

/** Interface names are short; this bounds the recursion on a damaged or looping tree. */
const MAX_DEPTH = 4;

export function emergencyDevice(iface: string, sys: NetSysfs, depth = 0): EmergencyDevice {
  if (depth > MAX_DEPTH) return { ok: false, reason: `${iface}: interfaces stacked more than ${MAX_DEPTH} deep` };
  if (!sys.has(iface)) return { ok: false, reason: `no interface ${iface} in /sys/class/net` };
  if (sys.has(iface, "device")) return { ok: true, device: iface, via: null };
  const devtype = sys.devtype(iface);
  if (devtype === "bridge" || sys.has(iface, "bridge")) {
    const ports = sys.list(iface, "brif");
    const physical = new Map<string, string>();
    for (const port of ports) {
      const found = emergencyDevice(port, sys, depth + 1);
      if (found.ok) physical.set(found.device, found.via ? `${found.via}, port of bridge ${iface}` : `port of bridge ${iface}`);
    }
    if (physical.size === 1) {
      const [device, via] = [...physical][0]!;
      return { ok: true, device, via };
    }
    if (physical.size === 0) {
      return { ok: false, reason: `bridge ${iface} has no physical port beneath it (ports: ${ports.join(", ") || "none"}); `
        + "in emergency mode the bridge does not exist and no NIC can carry netconsole" };
    }
    return { ok: false, reason: `bridge ${iface} has several physical ports (${[...physical.keys()].join(", ")}): `
      + "which one reaches the controller without the bridge is unknown" };
  }
  if (devtype === "bond" || sys.has(iface, "bonding")) {
    const mode = (sys.read(iface, "bonding/mode") ?? "").split(/\s+/)[0] ?? "";
    const active = sys.read(iface, "bonding/active_slave") ?? "";
    if (mode === "active-backup" && active) {
      const found = emergencyDevice(active, sys, depth + 1);
      return found.ok ? { ok: true, device: found.device, via: found.via ? `${found.via}, active slave of bond ${iface}` : `active slave of bond ${iface}` } : found;
    }
    return { ok: false, reason: `bond ${iface} in mode ${mode || "unknown"}${mode === "active-backup" ? " has no active slave" : ""}: `
      + "in emergency mode the bond does not exist, and its ports may not pass traffic alone (LACP, balancing)" };
  }
  if (devtype === "vlan" || /^[^.]+\.\d+$/.test(iface)) {
    return { ok: false, reason: `${iface} is a VLAN interface: in emergency mode it does not exist, and netconsole on its parent sends untagged frames` };
  }
  return { ok: false, reason: `${iface} is a virtual interface${devtype ? ` (${devtype})` : ""} that user space creates: it does not exist in emergency mode` };
}
