/**
 * The emergency NIC against this machine's real /sys/class/net: its virtio NIC
 * is physical, a real bridge whose only port is a veth (what a bridge of VM
 * taps looks like) has no NIC beneath it, and the route to an address on the
 * real default route's interface gives real options.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { emergencyDevice, NetSysfs } from "../../../../agent/netconsole/emergency-device.js";
import { configureNetconsole } from "../../../../agent/netconsole/configure.js";
import { routeTo } from "../../../../agent/netconsole/route.js";

const BRIDGE = "nsncbr0";
const VETH = "nsncv0";
const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
const physical = fs.readdirSync("/sys/class/net").find((i) => fs.existsSync(`/sys/class/net/${i}/device`));

afterAll(() => {
  for (const dev of [VETH, BRIDGE]) {
    try { ip("link", "del", dev); } catch { /* not there */ }
  }
});

describe.skipIf(process.getuid?.() !== 0 || !physical)("the emergency NIC on this machine's kernel", () => {
  it("a physical NIC is itself; a bridge whose only port is a veth has none beneath it", () => {
    const sys = new NetSysfs();
    expect(emergencyDevice(physical!, sys)).toEqual({ ok: true, device: physical, via: null });
    ip("link", "add", BRIDGE, "type", "bridge");
    ip("link", "add", VETH, "type", "veth", "peer", "name", `${VETH}p`);
    ip("link", "set", VETH, "master", BRIDGE);
    expect(emergencyDevice(BRIDGE, sys)).toEqual({ ok: false, reason: expect.stringContaining(`bridge ${BRIDGE} has no physical port beneath it (ports: ${VETH})`) });
    expect(emergencyDevice(VETH, sys)).toEqual({ ok: false, reason: `${VETH} is a virtual interface that user space creates: it does not exist in emergency mode` });
    expect(emergencyDevice("lo", sys)).toMatchObject({ ok: false });
  });

  it("the default route's gateway, from the real /proc/net, gives options naming the physical NIC", () => {
    // TEST-NET-3: off-link everywhere, so the default route's gateway is the next hop.
    const route = routeTo(fs.readFileSync("/proc/net/route", "utf8"), "203.0.113.10");
    expect(route, "this machine has a default route").toMatchObject({ gateway: expect.any(String) });
    // The gateway has a neighbour entry once something was sent to it (an answer is not needed).
    try { execFileSync("ping", ["-c", "1", "-W", "1", route!.gateway!], { stdio: "ignore" }); } catch { /* ARP resolved or not, checked below */ }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-nc-"));
    try {
      const file = path.join(dir, "nightshift-netconsole.conf");
      const outcome = configureNetconsole({ localAddress: "10.0.0.2", controllerAddress: "203.0.113.10", port: 6666 }, { file });
      expect(outcome).toMatchObject({ state: "configured", device: route!.iface, via: null });
      expect(fs.readFileSync(file, "utf8")).toMatch(new RegExp(`^options netconsole netconsole=6665@10\\.0\\.0\\.2/${route!.iface},6666@203\\.0\\.113\\.10/([0-9a-f]{2}:){5}[0-9a-f]{2}$`, "m"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
