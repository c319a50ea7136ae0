/**
 * The test guest with its optional network: a virtio NIC on a host bridge, the
 * address given on the kernel command line, reported by the guest agent, and
 * reachable from the host over TCP (echo on port 7) and HTTP (port 80) — what
 * a TCP or HTTP verify check after maintenance talks to.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { GuestAgent } from "../../../../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../../../../agent/libvirt/remote-types.js";
import {
  ensureGuestBuilt, guestDomainXml, prepareGuestDisk, readGuestConsoleLog, removeGuestDisk,
} from "../../../helpers/guest.js";
import { ensureTestBridge, guestAddressPool, type GuestAddress, type TestBridge } from "../../../helpers/guest-network.js";
import { removeDomainsWithPrefix, testPrefix } from "../../../helpers/libvirt.js";

const prefix = testPrefix("net");
const name = `${prefix}g1`;
const pool = guestAddressPool();
let bridge: TestBridge;
let guestAddress: GuestAddress;
let conn: LibvirtConnection;
let dom: DomainRef;
let diskPath: string;
let agent: GuestAgent;
let startedAt = 0;

async function waitFor<T>(what: string, attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Connects to host:port, sends `payload`, half-closes and returns everything the peer sent back. */
function tcpExchange(host: string, port: number, payload: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    socket.on("connect", () => socket.end(payload));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", (hadError) => { if (!hadError) resolve(Buffer.concat(chunks).toString("utf8")); });
  });
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  bridge = await ensureTestBridge();
  guestAddress = await pool.take();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  diskPath = await prepareGuestDisk(name, artifacts);
  dom = await conn.domainDefineXML(guestDomainXml({
    name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath,
    network: { bridge: bridge.name, address: guestAddress.cidr },
  }));
  agent = new GuestAgent(conn, dom);
});

afterAll(async () => {
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  if (diskPath) await removeGuestDisk(diskPath);
  await pool.releaseAll();
});

describe("guestDomainXml's network option", () => {
  const base = { name: "nstest-xml", kernel: "/k", initrd: "/i", diskPath: "/d.qcow2" };

  it("adds a virtio NIC on the bridge and nsnet= on the command line only when asked", () => {
    const plain = guestDomainXml(base);
    expect(plain).not.toContain("<interface");
    expect(plain).not.toContain("nsnet=");
    const withNet = guestDomainXml({ ...base, extraCmdline: "quiet", network: { bridge: "nsbr0", address: "10.250.0.11/24" } });
    expect(withNet).toMatch(/<interface type='bridge'>\s*<source bridge='nsbr0'\/>\s*<model type='virtio'\/>\s*<\/interface>/);
    expect(withNet).toContain("<cmdline>console=ttyS0 loglevel=4 nsnet=10.250.0.11/24 quiet</cmdline>");
  });

  it("refuses an address without a prefix and a bad bridge name", () => {
    expect(() => guestDomainXml({ ...base, network: { bridge: "nsbr0", address: "10.250.0.11" } })).toThrow(/ADDR\/PREFIX/);
    expect(() => guestDomainXml({ ...base, network: { bridge: "nsbr0", address: "10.250.0.300/24" } })).toThrow(/ADDR\/PREFIX/);
    expect(() => guestDomainXml({ ...base, network: { bridge: "br'0", address: "10.250.0.11/24" } })).toThrow(/interface name/);
  });
});

// Booting under TCG takes several seconds.
describe("a real QEMU guest on the test bridge", { timeout: 120_000 }, () => {
  it("boots, and its guest agent reports the address on eth0 with the NIC's MAC", async () => {
    onTestFailed(async () => { console.log(await readGuestConsoleLog(name)); });
    startedAt = Date.now();
    dom = await conn.domainCreate(dom);
    await waitFor("guest agent answering", () => agent.ping(), 90_000);
    const agentUpMs = Date.now() - startedAt;
    const ifaces = await agent.getNetworkInterfaces();
    const eth0 = ifaces.find((i) => i.name === "eth0");
    expect(eth0?.addresses).toContainEqual({ type: "ipv4", address: guestAddress.address, prefix: guestAddress.prefix });
    const mac = /<mac address='([0-9a-f:]+)'\/>/.exec(await conn.domainGetXMLDesc(dom))?.[1];
    expect(mac).toBeDefined();
    expect(eth0?.hardwareAddress).toBe(mac);
    console.log(`guest agent answered ${agentUpMs} ms after start (guest at ${guestAddress.cidr} on ${bridge.name})`);
  });

  it("echoes on TCP port 7 from the host, for repeated and concurrent connections", async () => {
    onTestFailed(async () => { console.log(await readGuestConsoleLog(name)); });
    // init starts the service right after the agent; give it a moment.
    const first = await waitFor("TCP port 7 answering", () => tcpExchange(guestAddress.address, 7, "ping 0\n"), 30_000);
    console.log(`TCP port 7 echoed ${Date.now() - startedAt} ms after start`);
    expect(first).toBe("ping 0\n");
    for (let i = 1; i <= 5; i++) expect(await tcpExchange(guestAddress.address, 7, `ping ${i}\n`)).toBe(`ping ${i}\n`);
    const payloads = Array.from({ length: 8 }, (_, i) => `concurrent ${i} ${"x".repeat(10_000)}\n`);
    expect(await Promise.all(payloads.map((p) => tcpExchange(guestAddress.address, 7, p)))).toEqual(payloads);
  });

  it("refuses a TCP port nothing listens on", async () => {
    const err = await tcpExchange(guestAddress.address, 8, "x").catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("serves a page with its hostname over HTTP", async () => {
    onTestFailed(async () => { console.log(await readGuestConsoleLog(name)); });
    const hostname = (await agent.exec({ path: "/bin/hostname" })).stdout.trim();
    expect(hostname).not.toBe("");
    const response = await waitFor("HTTP on port 80", () => fetch(`http://${guestAddress.address}/`, { signal: AbortSignal.timeout(5_000) }), 30_000);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain(`<h1>${hostname}</h1>`);
    expect(page).toContain(guestAddress.address);
  });
});
