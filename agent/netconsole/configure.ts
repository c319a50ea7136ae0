/**
 * Kernel netconsole, set up for the next boot: the agent writes
 * /etc/modprobe.d/nightshift-netconsole.conf with the controller as target,
 * computed from its live connection to the controller (the source address the
 * kernel chose for it, the interface and next-hop MAC from /proc/net). The file
 * is rewritten only when that changes (another NIC, a new gateway, a controller
 * that moved). The interface named is the physical NIC beneath the route's
 * (emergency-device.ts): a bridge or bond does not exist in emergency mode.
 * systemd/nightshift-emergency-report loads the module when a boot
 * stops in emergency or rescue mode, so the controller hears of it while the
 * agent does not run.
 */
import fs from "node:fs";
import path from "node:path";
import { errorMessage } from "../../shared/errors.js";
import { netconsolePath } from "./route.js";
import { emergencyDevice, NetSysfs } from "./emergency-device.js";

export const NETCONSOLE_CONF = "/etc/modprobe.d/nightshift-netconsole.conf";
/** netconsole's default source port. */
const LOCAL_PORT = 6665;

export interface NetconsoleTarget {
  /** This host's address on its connection to the controller. */
  localAddress: string;
  /** The controller's address as this host reaches it. */
  controllerAddress: string;
  /** The controller's netconsole.listen port (from its welcome). */
  port: number;
}

export type NetconsoleOutcome =
  | {
    state: "configured"; changed: boolean; file: string; options: string;
    /** The NIC named in the options, and how it was found beneath the route's interface (null: it is that interface). */
    device: string; via: string | null;
  }
  | { state: "unavailable"; reason: string };

export interface ConfigureOptions {
  file?: string;
  readProc?: (file: string) => string;
  /** Where /sys/class/net is read (a fixture tree in tests). */
  sysRoot?: string;
}

const plain = (address: string) => address.replace(/^::ffff:(?=\d+\.)/, "");

export function netconsoleOptions(t: NetconsoleTarget, iface: string, mac: string): string {
  return `netconsole=${LOCAL_PORT}@${plain(t.localAddress)}/${iface},${t.port}@${plain(t.controllerAddress)}/${mac}`;
}

export function configureNetconsole(t: NetconsoleTarget, o: ConfigureOptions = {}): NetconsoleOutcome {
  const file = o.file ?? NETCONSOLE_CONF;
  const readProc = o.readProc ?? ((f: string) => fs.readFileSync(f, "utf8"));
  let route: string;
  let arp: string;
  try {
    route = readProc("/proc/net/route");
    arp = readProc("/proc/net/arp");
  } catch (err) {
    return { state: "unavailable", reason: `cannot read /proc/net: ${errorMessage(err)}` };
  }
  const found = netconsolePath(route, arp, plain(t.controllerAddress));
  if (!found.ok) return { state: "unavailable", reason: found.reason };
  const device = emergencyDevice(found.path.iface, new NetSysfs(o.sysRoot));
  if (!device.ok) return { state: "unavailable", reason: device.reason };
  const options = netconsoleOptions(t, device.device, found.path.mac);
  const text = "# Written by nightshift-agent: kernel netconsole to the controller, loaded by\n"
    + "# nightshift-emergency-report when a boot stops in emergency or rescue mode.\n"
    + "# Rewritten when the route to the controller changes; delete it with the agent.\n"
    + `options netconsole ${options}\n`;
  let current: string | null = null;
  try {
    current = fs.readFileSync(file, "utf8");
  } catch { /* first time */ }
  const configured = { state: "configured", file, options, device: device.device, via: device.via } as const;
  if (current === text) return { ...configured, changed: false };
  try {
    fs.writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
    fs.renameSync(`${file}.tmp`, file);
  } catch (err) {
    return { state: "unavailable", reason: `cannot write ${file}: ${errorMessage(err)} (the unit's ReadWritePaths= has -${path.dirname(file)})` };
  }
  return { ...configured, changed: true };
}

/** The controller no longer asks for netconsole: the file goes, so the next boot sends nothing. */
export function removeNetconsole(file = NETCONSOLE_CONF): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  }
}
