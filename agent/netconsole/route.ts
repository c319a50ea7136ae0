/**
 * How this host reaches an IPv4 address, from /proc/net/route and /proc/net/arp
 * (plain file reads: the agent's sandbox has no AF_NETLINK, so no `ip route get`):
 * the interface, the next hop (the gateway, or the address itself on-link) and
 * the next hop's MAC address, which kernel netconsole needs because it sends
 * raw frames without ARP.
 */

export interface NetconsolePath {
  iface: string;
  nextHop: string;
  mac: string;
}

/** /proc/net/route writes addresses as host-order (little-endian here) hex: 0100000A is 10.0.0.1. */
function hexToIPv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join(".");
}

function ipv4ToInt(address: string): number {
  const p = address.split(".").map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function hexToInt(hex: string): number {
  return ipv4ToInt(hexToIPv4(hex));
}

const bits = (mask: number) => mask.toString(2).replace(/0/g, "").length;

/** The route the kernel would take to `destination`: the longest prefix, then the lowest metric. */
export function routeTo(procNetRoute: string, destination: string): { iface: string; gateway: string | null } | null {
  const dest = ipv4ToInt(destination);
  let best: { iface: string; gateway: string | null; prefix: number; metric: number } | null = null;
  for (const line of procNetRoute.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, destHex, gwHex, flagsHex, , , metricText, maskHex] = f as [string, string, string, string, string, string, string, string];
    const flags = Number.parseInt(flagsHex, 16);
    if (!(flags & 0x1)) continue; // RTF_UP
    const mask = hexToInt(maskHex);
    if (((dest & mask) >>> 0) !== hexToInt(destHex)) continue;
    const prefix = bits(mask);
    const metric = Number(metricText);
    if (best && (prefix < best.prefix || (prefix === best.prefix && metric >= best.metric))) continue;
    best = { iface, gateway: flags & 0x2 ? hexToIPv4(gwHex) : null, prefix, metric }; // RTF_GATEWAY
  }
  return best && { iface: best.iface, gateway: best.gateway };
}

/** The MAC address the neighbour table has for `address` on `iface` (complete entries only). */
export function macOf(procNetArp: string, address: string, iface: string): string | null {
  for (const line of procNetArp.split("\n").slice(1)) {
    const [ip, , flags, mac, , dev] = line.trim().split(/\s+/);
    if (ip === address && dev === iface && mac && (Number.parseInt(flags ?? "0", 16) & 0x2) && mac !== "00:00:00:00:00:00") return mac;
  }
  return null;
}

export type PathResult = { ok: true; path: NetconsolePath } | { ok: false; reason: string };

export function netconsolePath(procNetRoute: string, procNetArp: string, destination: string): PathResult {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(destination)) {
    return { ok: false, reason: `the controller's address ${destination} is not IPv4 (nightshift sets up netconsole over IPv4 only)` };
  }
  const route = routeTo(procNetRoute, destination);
  if (!route) return { ok: false, reason: `no route to the controller ${destination} in /proc/net/route` };
  if (route.iface === "lo") return { ok: false, reason: `the controller ${destination} is on this host (loopback): netconsole cannot send to it` };
  const nextHop = route.gateway ?? destination;
  const mac = macOf(procNetArp, nextHop, route.iface);
  if (!mac) return { ok: false, reason: `no MAC address for the next hop ${nextHop} on ${route.iface} in /proc/net/arp (not an Ethernet path?)` };
  return { ok: true, path: { iface: route.iface, nextHop, mac } };
}
