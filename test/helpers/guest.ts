/**
 * The tiny Linux test guest (busybox + QEMU guest agent on Debian's kernel,
 * built by test/guest/build-guest.sh) for integration tests against the real
 * libvirtd: where its artefacts are, a private copy of its data disk per
 * guest, and the domain XML that boots it.
 *
 * The guest mounts its data disk (ext4, /version = "v1") at /data, answers the
 * guest agent on the org.qemu.guest_agent.0 channel within seconds of start,
 * powers off on the ACPI power button and on the agent's guest-shutdown, and
 * reboots on the agent's guest-shutdown mode=reboot.
 *
 * With the `network` option (see test/helpers/guest-network.ts for the host
 * bridge and addresses) the guest also has eth0 on a host bridge with a fixed
 * address, a TCP echo service on port 7 and busybox httpd on port 80 serving a
 * page with its hostname ("nsguest") and address. Without it the guest has no
 * NIC and loads no network modules.
 *
 * Wait for guest-ping before asking for a shutdown: until qemu-ga has opened
 * its port libvirt falls back to the power button, and a press before the
 * guest watches the button (the same moment, ~2.5 s of guest uptime) is lost.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { isIPv4 } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { xmlEscape } from "../../agent/libvirt/domain-xml.js";

// Two levels up from test/helpers/, whether run from source (vitest) or compiled into dist/ (demo).
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..").replace(/\/dist$/, "");

export const GUEST_BUILD_SCRIPT = path.join(REPO_ROOT, "test/guest/build-guest.sh");

/**
 * Per-guest disks and console logs live where libvirt's QEMU expects images,
 * so no permission or (on hosts that have it) AppArmor/SELinux label differs
 * from a production guest's.
 */
export const GUEST_IMAGES_DIR = "/var/lib/libvirt/images/nightshift-test";

/** The guest agent's channel name; qemu-ga in the guest opens this port. */
export const GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0";

/** What the data disk template holds in /version; tests change it to detect rollbacks. */
export const GUEST_DATA_VERSION = "v1";

export interface GuestArtifacts {
  kernel: string;
  initrd: string;
  dataTemplate: string;
  cacheDir: string;
}

/** Where the build script puts (or would put) the guest; same rule as the script. */
export function guestArtifacts(): GuestArtifacts {
  const cacheDir = path.resolve(process.env.NIGHTSHIFT_GUEST_CACHE || path.join(REPO_ROOT, "test/guest/cache"));
  return {
    kernel: path.join(cacheDir, "vmlinuz"),
    initrd: path.join(cacheDir, "initrd.gz"),
    dataTemplate: path.join(cacheDir, "data.qcow2"),
    cacheDir,
  };
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function mtimeMs(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).mtimeMs;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`.trimEnd()));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * Builds the guest if an artefact is missing or the build script changed since
 * the last build. A cold build downloads ~75 MB of Debian packages and takes
 * ~10 s here; the timeout leaves room for a slow mirror.
 */
export async function ensureGuestBuilt(timeoutMs = 600_000): Promise<GuestArtifacts> {
  const artifacts = guestArtifacts();
  const files = [artifacts.kernel, artifacts.initrd, artifacts.dataTemplate];
  const present = (await Promise.all(files.map(isFile))).every(Boolean);
  const stampTime = await mtimeMs(path.join(artifacts.cacheDir, "stamp"));
  const scriptTime = await mtimeMs(GUEST_BUILD_SCRIPT);
  const stale = stampTime === undefined || (scriptTime !== undefined && scriptTime > stampTime);
  if (!present || stale) {
    await run(GUEST_BUILD_SCRIPT, [], timeoutMs);
    const built = (await Promise.all(files.map(isFile))).every(Boolean);
    if (!built) throw new Error(`${GUEST_BUILD_SCRIPT} finished but ${files.join(", ")} are not all there`);
  }
  return artifacts;
}

function checkGuestName(name: string): void {
  // The name becomes a file name in the shared images directory.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`guest name '${name}' must be letters, digits, '.', '_' or '-'`);
  }
}

export function guestDiskPath(name: string, imagesDir = GUEST_IMAGES_DIR): string {
  checkGuestName(name);
  return path.join(imagesDir, `${name}.qcow2`);
}

/**
 * Where the guest's serial console (kernel warnings, init's progress, qemu-ga's
 * errors) is written; print it when a test fails.
 */
export function guestConsoleLogPath(name: string, imagesDir = GUEST_IMAGES_DIR): string {
  checkGuestName(name);
  return path.join(imagesDir, `${name}.console.log`);
}

/** The console log, or "" if the guest never started. */
export async function readGuestConsoleLog(name: string, imagesDir = GUEST_IMAGES_DIR): Promise<string> {
  try {
    return await fs.readFile(guestConsoleLogPath(name, imagesDir), "utf8");
  } catch {
    return "";
  }
}

/**
 * A private, self-contained copy of the data disk template (no backing file,
 * so internal snapshots and reverts work on it). Overwrites an older copy of
 * the same name, and drops that guest's old console log, which the domain
 * only ever appends to.
 */
export async function prepareGuestDisk(name: string, artifacts: GuestArtifacts, imagesDir = GUEST_IMAGES_DIR): Promise<string> {
  const diskPath = guestDiskPath(name, imagesDir);
  await fs.mkdir(imagesDir, { recursive: true });
  await fs.rm(guestConsoleLogPath(name, imagesDir), { force: true });
  const partial = `${diskPath}.partial`;
  await fs.copyFile(artifacts.dataTemplate, partial);
  await fs.rename(partial, diskPath);
  return diskPath;
}

/** Removes a disk made by prepareGuestDisk; a missing file is not an error. */
export async function removeGuestDisk(diskPath: string): Promise<void> {
  await fs.rm(diskPath, { force: true });
}

export interface GuestDomainOptions {
  name: string;
  uuid?: string;
  kernel: string;
  initrd: string;
  diskPath: string;
  memoryMiB?: number;
  vcpus?: number;
  /** Defaults to guestConsoleLogPath(name). */
  consoleLogPath?: string;
  /**
   * "qemu" (TCG) by default: Debian's kernel hangs early under the nested KVM
   * of the project's machines, while TCG boots it in a few seconds.
   */
  domainType?: "qemu" | "kvm";
  /** Appended to the kernel command line. */
  extraCmdline?: string;
  /**
   * A virtio NIC on an existing host bridge, and `nsnet=<address>` on the
   * kernel command line so the guest configures eth0 with it. `address` is
   * ADDR/PREFIX, e.g. "10.250.0.11/24" (see ensureTestBridge and
   * guestAddressPool in guest-network.ts).
   */
  network?: { bridge: string; address: string };
}

function checkGuestNetwork(network: { bridge: string; address: string }): void {
  // Interface names: at most 15 bytes, no '/', whitespace or ':'.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(network.bridge)) {
    throw new Error(`bridge name '${network.bridge}' is not a valid interface name`);
  }
  const [address, prefix, ...rest] = network.address.split("/");
  if (!address || !isIPv4(address) || !prefix || !/^\d{1,2}$/.test(prefix) || Number(prefix) < 1 || Number(prefix) > 30 ||
    rest.length > 0) {
    throw new Error(`guest address '${network.address}' must be IPv4 ADDR/PREFIX, e.g. 10.250.0.11/24`);
  }
}

export function guestDomainXml(options: GuestDomainOptions): string {
  checkGuestName(options.name);
  const memoryMiB = options.memoryMiB ?? 192;
  const vcpus = options.vcpus ?? 1;
  const consoleLogPath = options.consoleLogPath ?? guestConsoleLogPath(options.name);
  if (options.network) checkGuestNetwork(options.network);
  const nsnet = options.network ? `nsnet=${options.network.address}` : undefined;
  const cmdline = ["console=ttyS0", "loglevel=4", nsnet, options.extraCmdline].filter(Boolean).join(" ");
  const e = xmlEscape;
  const nic = options.network
    ? `
    <interface type='bridge'>
      <source bridge='${e(options.network.bridge)}'/>
      <model type='virtio'/>
    </interface>`
    : "";
  return `<domain type='${options.domainType ?? "qemu"}'>
  <name>${e(options.name)}</name>${options.uuid ? `\n  <uuid>${e(options.uuid)}</uuid>` : ""}
  <memory unit='MiB'>${memoryMiB}</memory>
  <vcpu>${vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${e(options.kernel)}</kernel>
    <initrd>${e(options.initrd)}</initrd>
    <cmdline>${e(cmdline)}</cmdline>
  </os>
  <features>
    <!-- without ACPI, virDomainShutdown's power-button fallback has nothing to press -->
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${e(options.diskPath)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>${nic}
    <controller type='usb' model='none'/>
    <serial type='pty'>
      <!-- append: a snapshot revert starts a new QEMU, which would otherwise truncate the log -->
      <log file='${e(consoleLogPath)}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='${GUEST_AGENT_CHANNEL}'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
