/**
 * The hypervisor VM of the tests: a Debian 12 system with systemd as PID 1
 * (built by test/hostvm/build-host.sh), booted under TCG by the local
 * libvirtd, on the test bridge (guest-network.ts) with a fixed address from
 * the kernel command line. One VM at a time: it needs 2 vCPUs to boot in
 * ~20-30 s on the project's 2-core machines.
 *
 * Disks: vda the root file system (a qcow2 overlay on the cached image, so
 * each VM starts from the image as built), vdb optional install media
 * (host-vm-install.ts), vdc a small ext4 data disk that no fstab line mounts
 * until a test adds one (the incident's "ext4 declared xfs").
 *
 * The host reaches it through the guest agent (stock qemu-guest-agent.service,
 * and in emergency mode the image's nightshift-emergency-ga.service) and over
 * the network (`address`). Its serial console (kernel, systemd's status lines,
 * the image's emergency marker) goes to a log file the domain appends to;
 * `console` reads it by offset, so a test can wait for a line that appears
 * after a given moment. A later test can listen for netconsole on the bridge
 * (UDP to the host's bridge address) beside it: the kernel command line is
 * `extraCmdline`'s to extend.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import type { LibvirtConnection } from "../../agent/libvirt/connection.js";
import { GuestAgent, type GuestExecResult } from "../../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { waitForGuestAgent } from "../../agent/maintenance/agent-ping.js";
import { xmlEscape } from "../../agent/libvirt/domain-xml.js";
import { GUEST_AGENT_CHANNEL, GUEST_IMAGES_DIR } from "./guest.js";
import { REPO_ROOT } from "./run.js";

export const HOST_VM_BUILD_SCRIPT = path.join(REPO_ROOT, "test/hostvm/build-host.sh");
/** The line nightshift-emergency-marker.service writes to the console in emergency mode. */
export const EMERGENCY_MARKER = /nightshift-hostvm: emergency\.target reached at ([\d.]+) s uptime, boot ([0-9a-f-]{36})/;

export interface HostVmArtifacts {
  kernel: string;
  initrd: string;
  rootImage: string;
  cacheDir: string;
}

export function hostVmArtifacts(): HostVmArtifacts {
  const cacheDir = path.resolve(process.env.NIGHTSHIFT_HOSTVM_CACHE || path.join(REPO_ROOT, "test/hostvm/cache"));
  return {
    kernel: path.join(cacheDir, "vmlinuz"), initrd: path.join(cacheDir, "initrd.gz"), rootImage: path.join(cacheDir, "root.qcow2"), cacheDir,
  };
}

/** Whether the image was built (the tests skip without it: building it takes ~2 min). */
export function hostVmBuilt(artifacts = hostVmArtifacts()): boolean {
  return [artifacts.kernel, artifacts.initrd, artifacts.rootImage, path.join(artifacts.cacheDir, "stamp")].every((f) => existsSync(f));
}

export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`.trimEnd()));
      else resolve(stdout);
    });
  });
}

export interface HostVmOptions {
  name: string;
  /** The test bridge and the VM's ADDR/PREFIX on it (guest-network.ts). */
  network: { bridge: string; address: string; gateway: string };
  /** Install media (an ext4 image, attached read-only as vdb). */
  installMedia?: string;
  memoryMiB?: number;
  vcpus?: number;
  /** Appended to the kernel command line. */
  extraCmdline?: string;
  imagesDir?: string;
}

function prefixToMask(prefix: number): string {
  const n = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function hostVmDomainXml(o: HostVmOptions & { rootDisk: string; dataDisk: string; consoleLog: string }, a: HostVmArtifacts): string {
  const e = xmlEscape;
  const [address, prefix] = o.network.address.split("/");
  // ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF, read by systemd-network-generator;
  // net.ifnames=0 keeps the NIC's name eth0 (the image's networkd drop-in is for 70-eth0.network).
  const cmdline = [
    "console=ttyS0", "root=/dev/vda", "net.ifnames=0", `ip=${address}::${o.network.gateway}:${prefixToMask(Number(prefix))}:nshost:eth0:off`,
    "fsck.mode=skip", "systemd.show_status=1", "loglevel=4", o.extraCmdline,
  ].filter(Boolean).join(" ");
  const disk = (file: string, dev: string, format: string, readonly = false) => `
    <disk type='file' device='disk'>
      <driver name='qemu' type='${format}'/>
      <source file='${e(file)}'/>
      <target dev='${dev}' bus='virtio'/>${readonly ? "\n      <readonly/>" : ""}
    </disk>`;
  return `<domain type='qemu'>
  <name>${e(o.name)}</name>
  <memory unit='MiB'>${o.memoryMiB ?? 768}</memory>
  <vcpu>${o.vcpus ?? 2}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${e(a.kernel)}</kernel>
    <initrd>${e(a.initrd)}</initrd>
    <cmdline>${e(cmdline)}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>${disk(o.rootDisk, "vda", "qcow2")}${o.installMedia ? disk(o.installMedia, "vdb", "raw", true) : ""}${disk(o.dataDisk, "vdc", "raw")}
    <interface type='bridge'>
      <source bridge='${e(o.network.bridge)}'/>
      <model type='virtio'/>
      <rom bar='off'/>
    </interface>
    <controller type='usb' model='none'/>
    <serial type='pty'>
      <log file='${e(o.consoleLog)}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='${GUEST_AGENT_CHANNEL}'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** The serial console log, read by offset: `mark()` now, then `waitFor(re, mark)` for a line written after it. */
export class ConsoleLog {
  constructor(readonly file: string) {}

  async read(from = 0): Promise<string> {
    const text = await fs.readFile(this.file, "utf8").catch(() => "");
    return text.slice(from);
  }

  async mark(): Promise<number> {
    return (await this.read()).length;
  }

  async waitFor(re: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(await this.read(from));
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`console of ${this.file}: no ${re} within ${timeoutMs} ms; its end:\n${(await this.read(from)).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export class HostVm {
  readonly console: ConsoleLog;
  /** The VM's address on the bridge, e.g. "10.250.0.23". */
  readonly address: string;
  private constructor(readonly conn: LibvirtConnection, readonly dom: DomainRef, readonly options: HostVmOptions,
    readonly files: { rootDisk: string; dataDisk: string; consoleLog: string }) {
    this.console = new ConsoleLog(files.consoleLog);
    this.address = options.network.address.split("/")[0]!;
  }

  /** Defines and starts the VM from the cached image (a fresh overlay and data disk); returns once started, not booted. */
  static async start(conn: LibvirtConnection, options: HostVmOptions, artifacts = hostVmArtifacts()): Promise<HostVm> {
    const dir = options.imagesDir ?? GUEST_IMAGES_DIR;
    await fs.mkdir(dir, { recursive: true });
    const files = {
      rootDisk: path.join(dir, `${options.name}.root.qcow2`),
      dataDisk: path.join(dir, `${options.name}.data.raw`),
      consoleLog: path.join(dir, `${options.name}.console.log`),
    };
    await fs.rm(files.consoleLog, { force: true });
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", artifacts.rootImage, files.rootDisk]);
    await fs.rm(files.dataDisk, { force: true });
    await run("truncate", ["-s", "32M", files.dataDisk]);
    await run("mkfs.ext4", ["-q", "-F", "-L", "nsdata", files.dataDisk]);
    const dom = await conn.domainDefineXML(hostVmDomainXml({ ...options, ...files }, artifacts));
    await conn.domainCreate(dom);
    return new HostVm(conn, dom, options, files);
  }

  /** Waits until the guest agent answers (the stock one after a boot, the rig's one in emergency mode); the ms waited. */
  waitForGuestAgent(timeoutMs = 120_000): Promise<number> {
    return waitForGuestAgent(this.conn, this.dom, { timeoutMs, intervalMs: 500, pingTimeoutMs: 3_000, what: "after boot " });
  }

  exec(command: string, timeoutMs = 30_000): Promise<GuestExecResult> {
    return new GuestAgent(this.conn, this.dom).exec({ path: "/bin/sh", args: ["-c", command], timeoutMs });
  }

  /** `sh -c command` in the VM; its stdout, trimmed; throws on a non-zero exit. */
  async sh(command: string, timeoutMs = 30_000): Promise<string> {
    const r = await this.exec(command, timeoutMs);
    if (r.exitCode !== 0) throw new Error(`in ${this.options.name}: ${command}: exit ${r.exitCode}\n${r.stderr}${r.stdout}`);
    return r.stdout.trim();
  }

  bootId(): Promise<string> {
    return this.sh("cat /proc/sys/kernel/random/boot_id");
  }

  /** `systemctl is-system-running --wait` (running, degraded, maintenance, ...) once the boot has settled. */
  async systemState(): Promise<string> {
    return (await this.exec("systemctl is-system-running --wait", 120_000)).stdout.trim();
  }

  /**
   * `systemctl reboot` in the VM, as an operator would. The guest agent is
   * stopped by that reboot, so the command is queued (--no-block) and its
   * answer may be lost; returns the moment it was asked (Date.now()).
   */
  async reboot(): Promise<number> {
    const at = Date.now();
    await this.exec("systemctl --no-block reboot", 10_000).catch(() => undefined);
    return at;
  }

  /** Polls until the guest agent answers with another boot id than `before`; the new one. */
  async waitForNewBoot(before: string, timeoutMs = 150_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.options.name}: no new boot within ${timeoutMs} ms; console:\n${(await this.console.read()).slice(-3000)}`);
      const id = await this.waitForGuestAgent(left).then(() => this.bootId()).catch(() => before);
      if (id !== before) return id;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  /** Destroys and undefines the domain and removes its files. */
  async remove(): Promise<void> {
    await this.conn.domainDestroy(this.dom).catch(() => undefined);
    await this.conn.domainUndefine(this.dom).catch(() => undefined);
    for (const f of Object.values(this.files)) await fs.rm(f, { force: true });
  }
}
