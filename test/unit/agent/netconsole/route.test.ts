import { describe, expect, it } from "vitest";
import { macOf, netconsolePath, routeTo } from "../../../../agent/netconsole/route.js";
import { netconsoleOptions } from "../../../../agent/netconsole/configure.js";

// As a host with a default route via 10.77.0.1 on eth0, 10.77.0.0/24 on-link, and a /16 on eth1, prints them.
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t01004D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000A8C0\t00000000\t0001\t0\t0\t100\t0000FFFF\t0\t0\t0
eth2\t0000A8C0\t00000000\t0001\t0\t0\t50\t0000FFFF\t0\t0\t0
eth3\t0001A8C0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const ARP = `IP address       HW type     Flags       HW address            Mask     Device
10.77.0.1        0x1         0x2         52:54:00:aa:bb:01     *        eth0
10.77.0.9        0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.3.4      0x1         0x2         52:54:00:aa:bb:02     *        eth2
`;

describe("netconsole path", () => {
  it("takes the longest prefix, then the lowest metric, and skips routes that are down", () => {
    expect(routeTo(ROUTE, "10.77.0.5")).toEqual({ iface: "eth0", gateway: null });
    expect(routeTo(ROUTE, "8.8.8.8")).toEqual({ iface: "eth0", gateway: "10.77.0.1" });
    expect(routeTo(ROUTE, "192.168.3.4")).toEqual({ iface: "eth2", gateway: null });
    expect(routeTo(ROUTE, "192.168.1.4")).toEqual({ iface: "eth2", gateway: null });
  });

  it("needs a complete neighbour entry on the route's interface", () => {
    expect(macOf(ARP, "10.77.0.1", "eth0")).toBe("52:54:00:aa:bb:01");
    expect(macOf(ARP, "10.77.0.1", "eth1")).toBeNull();
    expect(macOf(ARP, "10.77.0.9", "eth0")).toBeNull();
  });

  it("a controller behind the gateway is reached at the gateway's MAC; one on-link at its own", () => {
    expect(netconsolePath(ROUTE, ARP, "10.99.1.2")).toEqual({ ok: true, path: { iface: "eth0", nextHop: "10.77.0.1", mac: "52:54:00:aa:bb:01" } });
    expect(netconsolePath(ROUTE, ARP, "192.168.3.4")).toEqual({ ok: true, path: { iface: "eth2", nextHop: "192.168.3.4", mac: "52:54:00:aa:bb:02" } });
  });

  it("says why it cannot: IPv6, no route, no neighbour", () => {
    expect(netconsolePath(ROUTE, ARP, "fd00::1")).toMatchObject({ ok: false, reason: expect.stringContaining("not IPv4") });
    expect(netconsolePath(ROUTE.split("\n").slice(0, 1).join("\n"), ARP, "10.77.0.5")).toMatchObject({ ok: false, reason: expect.stringContaining("no route") });
    expect(netconsolePath(ROUTE, ARP, "10.77.0.9")).toMatchObject({ ok: false, reason: expect.stringContaining("no MAC address for the next hop 10.77.0.9 on eth0") });
  });

  it("writes the kernel's netconsole= syntax, IPv4-mapped addresses unmapped", () => {
    expect(netconsoleOptions({ localAddress: "::ffff:10.77.0.5", controllerAddress: "10.77.0.1", port: 6666 }, "eth0", "52:54:00:aa:bb:01"))
      .toBe("netconsole=6665@10.77.0.5/eth0,6666@10.77.0.1/52:54:00:aa:bb:01");
  });
});
