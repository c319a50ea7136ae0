import net from "node:net";
import { describe, expect, it } from "vitest";
import { isUsableAddress, tcpConnect, usableAddresses } from "../../../../agent/maintenance/actions/tcp-check.js";

describe("tcp-check", () => {
  it("skips loopback and link-local addresses", () => {
    expect(isUsableAddress("ipv4", "10.0.0.5")).toBe(true);
    expect(isUsableAddress("ipv4", "127.0.0.1")).toBe(false);
    expect(isUsableAddress("ipv4", "169.254.10.1")).toBe(false);
    expect(isUsableAddress("ipv6", "2001:db8::5")).toBe(true);
    expect(isUsableAddress("ipv6", "::1")).toBe(false);
    expect(isUsableAddress("ipv6", "fe80::5054:ff:fe12:3456")).toBe(false);
    expect(isUsableAddress("ipv4", "not-an-ip")).toBe(false);
    expect(usableAddresses([
      { name: "lo", addresses: [{ type: "ipv4", address: "127.0.0.1", prefix: 8 }] },
      { name: "eth0", addresses: [{ type: "ipv6", address: "fe80::1", prefix: 64 }, { type: "ipv4", address: "192.0.2.7", prefix: 24 }] },
    ])).toEqual(["192.0.2.7"]);
  });

  it("connects to a listening port and says why a closed one failed", async () => {
    const server = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await tcpConnect("127.0.0.1", port, 2_000)).toBeLessThan(2_000);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await expect(tcpConnect("127.0.0.1", port, 2_000)).rejects.toThrow(/ECONNREFUSED/);
  });
});
