/**
 * The host side of the test guest's optional network: a Linux bridge on the
 * host holding the host's address in a private subnet, and unique guest
 * addresses in that subnet. A guest defined with guestDomainXml({ network:
 * { bridge, address } }) gets a virtio NIC (a tap libvirt adds to the bridge)
 * and configures eth0 with the address; the host then reaches it directly.
 *
 * Needs root (CAP_NET_ADMIN) and iproute2's `ip`. The bridge is left in place
 * after the tests (it is cheap, and another test process may be using it);
 * remove it with `ip link del nsbr0`. Nothing is routed or NATed: only the
 * host and the guests on the bridge can reach each other.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { isIPv4 } from "node:net";
import path from "node:path";

export const TEST_BRIDGE = "nsbr0";
/** The host's address on the bridge, with the subnet's prefix length. */
export const TEST_BRIDGE_CIDR = "10.250.0.1/24";
/**
 * Address leases, one file per address in use (holding the owner's pid), so
 * that test processes running at the same time never hand out one address
 * twice. A lease whose process is gone is taken over.
 */
export const GUEST_ADDRESS_LEASE_DIR = "/run/nightshift-test/guest-addresses";

export interface TestBridge {
  name: string;
  /** The host's address on the bridge, e.g. "10.250.0.1". */
  hostAddress: string;
  prefix: number;
}

export interface GuestAddress {
  /** e.g. "10.250.0.11": what the host connects to. */
  address: string;
  prefix: number;
  /** ADDR/PREFIX, e.g. "10.250.0.11/24": what guestDomainXml's network.address takes. */
  cidr: string;
}

function parseCidr(cidr: string): { address: string; prefix: number } {
  const [address, prefixText, ...rest] = cidr.split("/");
  const prefix = Number(prefixText);
  if (!address || !isIPv4(address) || !prefixText || !/^\d{1,2}$/.test(prefixText) || prefix < 1 || prefix > 30 || rest.length > 0) {
    throw new Error(`'${cidr}' is not an IPv4 ADDR/PREFIX (prefix 1-30), e.g. 10.250.0.1/24`);
  }
  return { address, prefix };
}

function ipToInt(address: string): number {
  return address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

class IpCommandError extends Error {
  constructor(readonly args: string[], readonly stderr: string, message: string) {
    super(message);
  }
}

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, { timeout: 10_000, env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` } },
      (err, stdout, stderr) => {
        if (err) reject(new IpCommandError(args, stderr, `ip ${args.join(" ")} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
  });
}

/** `ip` failed because what it was asked to add is already there (another process won the race). */
function isAlreadyThere(err: unknown): boolean {
  return err instanceof IpCommandError && /File exists|already assigned/i.test(err.stderr);
}

interface IpLink {
  ifname: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

async function showLink(name: string): Promise<IpLink | undefined> {
  try {
    return (JSON.parse(await ip(["-j", "-d", "addr", "show", "dev", name])) as IpLink[])[0];
  } catch (err) {
    if (err instanceof IpCommandError && /does not exist/i.test(err.stderr)) return undefined;
    throw err;
  }
}

/**
 * Makes sure a Linux bridge `name` exists, is up and holds `cidr` (the host's
 * address on it). Idempotent, and safe when several processes call it at once.
 * Refuses to touch an existing interface of that name that is not a bridge.
 */
export async function ensureTestBridge(name = TEST_BRIDGE, cidr = TEST_BRIDGE_CIDR): Promise<TestBridge> {
  const { address, prefix } = parseCidr(cidr);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`'${name}' is not a valid interface name`);
  let link = await showLink(name);
  if (!link) {
    try {
      // STP off (the default) and no forward delay: a guest's tap forwards at once.
      await ip(["link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    } catch (err) {
      if (!isAlreadyThere(err)) throw err;
    }
    link = await showLink(name);
    if (!link) throw new Error(`bridge ${name} was created but cannot be found`);
  }
  if (link.linkinfo?.info_kind !== "bridge") {
    throw new Error(`interface ${name} exists but is a '${link.linkinfo?.info_kind ?? "plain"}' device, not a bridge`);
  }
  if (!link.addr_info?.some((a) => a.family === "inet" && a.local === address && a.prefixlen === prefix)) {
    try {
      await ip(["addr", "add", cidr, "dev", name]);
    } catch (err) {
      if (!isAlreadyThere(err)) throw err;
    }
  }
  if (!link.flags?.includes("UP")) await ip(["link", "set", name, "up"]);
  return { name, hostAddress: address, prefix };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface GuestAddressPool {
  /** A guest address in the bridge's subnet that no other live lease holds. */
  take(): Promise<GuestAddress>;
  /** Gives an address back (only if this process still holds its lease). */
  release(address: GuestAddress): Promise<void>;
  /** Gives back every address this pool handed out. */
  releaseAll(): Promise<void>;
}

/**
 * Hands out guest addresses in the subnet of `bridgeCidr` (never the network,
 * broadcast or the host's own address), unique across this process and every
 * other test process using the same lease directory, until released or until
 * the holding process exits. Call releaseAll() in afterAll.
 */
export function guestAddressPool(bridgeCidr = TEST_BRIDGE_CIDR, leaseDir = GUEST_ADDRESS_LEASE_DIR): GuestAddressPool {
  const { address: hostAddress, prefix } = parseCidr(bridgeCidr);
  const size = 2 ** (32 - prefix);
  const network = ipToInt(hostAddress) - (ipToInt(hostAddress) % size);
  const dir = path.join(leaseDir, `${intToIp(network)}_${prefix}`);
  const mine = new Set<string>();
  const owner = `${process.pid}\n`;

  async function claim(file: string): Promise<boolean> {
    try {
      await fs.writeFile(file, owner, { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number((await fs.readFile(file, "utf8").catch(() => "")).trim());
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) return false;
    // A stale lease (its process is gone, or the file is torn): take it over.
    // Two processes doing this for the same address at the same instant could
    // both succeed; the random starting point in take() makes that unlikely.
    await fs.rm(file, { force: true });
    try {
      await fs.writeFile(file, owner, { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
  }

  async function release(address: GuestAddress): Promise<void> {
    if (!mine.delete(address.address)) return;
    const file = path.join(dir, address.address);
    if ((await fs.readFile(file, "utf8").catch(() => "")) === owner) await fs.rm(file, { force: true });
  }

  return {
    async take() {
      await fs.mkdir(dir, { recursive: true });
      const hosts = size - 2;
      const start = Math.floor(Math.random() * hosts);
      for (let i = 0; i < hosts; i++) {
        const candidate = intToIp(network + 1 + ((start + i) % hosts));
        if (candidate === hostAddress || mine.has(candidate)) continue;
        if (await claim(path.join(dir, candidate))) {
          mine.add(candidate);
          return { address: candidate, prefix, cidr: `${candidate}/${prefix}` };
        }
      }
      throw new Error(`no free guest address left in ${intToIp(network)}/${prefix} (leases in ${dir})`);
    },
    release,
    async releaseAll() {
      for (const address of [...mine]) await release({ address, prefix, cidr: `${address}/${prefix}` });
    },
  };
}
