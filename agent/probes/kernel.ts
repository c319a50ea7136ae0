/**
 * Probe "kernel": does this host run the newest kernel it has installed? When
 * it does not, its next reboot starts a kernel it has never run (and the fixes
 * in that kernel are not in effect until then): worth knowing before a
 * maintenance window reboots it, and better done in one on purpose.
 *
 * - running: /proc/sys/kernel/osrelease (what `uname -r` prints)
 * - installed: every release with a kernel image, /boot/vmlinuz-RELEASE (Debian,
 *   Ubuntu, RHEL) or /lib/modules/RELEASE/vmlinuz (also /usr/lib/modules; RHEL,
 *   Fedora, Arch), without RHEL's rescue image (vmlinuz-0-rescue-MACHINEID) and
 *   names that are no release (vmlinuz-linux). A /lib/modules directory without
 *   an image (modules left behind by a removed kernel) is not a kernel.
 * - newest: in version order (digit runs compared as numbers), as `sort -V` and
 *   GRUB's menu order pick the kernel a default boot starts.
 *
 * Fact {running, newestInstalled, rebootNeeded}; finding NS_HOST_KERNEL_REBOOT_PENDING
 * when a newer one is installed. Not-applicable without /proc/sys/kernel/osrelease
 * or without any kernel image (a container, or /boot not mounted: the mounts probe
 * says so). Not seen: a kernel rebuilt under the same release (the image changes,
 * the release does not).
 *
 * Host trees (test/fixtures/hosts/kernel-*): proc/sys/kernel/osrelease, and empty
 * files standing in for the images.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { KERNEL_FACT, type KernelFact } from "../../shared/facts/kernel.js";
import type { HostRoot } from "./host-root.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";

const MODULE_DIRS = ["/lib/modules", "/usr/lib/modules"];
/** A release starts with its version number: "6.1.0-18-amd64", "5.14.0-362.8.1.el9_3.x86_64". */
const RELEASE = /^\d+\.\d+[^/\s]*$/;

/** a < b: negative; digit runs compare as numbers, the rest as text; a prefix comes first. */
export function compareReleases(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric && BigInt(x) !== BigInt(y)) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (!numeric) return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Every release with a kernel image under the root, newest first. */
export async function installedKernels(root: HostRoot): Promise<string[]> {
  const found = new Set<string>();
  for (const name of await names(root.path("/boot"))) {
    const release = /^vmlinuz-(.+)$/.exec(name)?.[1];
    if (release && RELEASE.test(release) && await isFile(root.path(`/boot/${name}`))) found.add(release);
  }
  for (const dir of MODULE_DIRS) {
    for (const release of await names(root.path(dir))) {
      if (RELEASE.test(release) && await isFile(root.path(`${dir}/${release}/vmlinuz`))) found.add(release);
    }
  }
  return [...found].sort((a, b) => compareReleases(b, a));
}

export function kernelFinding(fact: KernelFact): ProbeFinding | null {
  if (!fact.rebootNeeded || fact.newestInstalled === null) return null;
  const { running, newestInstalled: newest } = fact;
  return {
    code: "NS_HOST_KERNEL_REBOOT_PENDING", severity: "warning", subject: "kernel",
    message: `The host runs kernel ${running}, but ${newest} is installed: its next reboot starts a kernel it has not run yet, `
      + "and the fixes in it are not in effect until then.",
    remedy: `Reboot it in a maintenance window (its VMs moved or shut down first) and check that it comes back on ${newest} (\`uname -r\`); `
      + `if ${newest} must not be booted, make the boot loader's default ${running}.`,
  };
}

export async function collectKernel(ctx: ProbeContext): Promise<ProbeOutput<KernelFact>> {
  let running: string;
  try {
    running = (await readFile(ctx.root.path("/proc/sys/kernel/osrelease"), "utf8")).trim();
  } catch {
    return { status: "not-applicable", detail: "no /proc/sys/kernel/osrelease", findings: [] };
  }
  const installed = await installedKernels(ctx.root);
  const newest = installed[0] ?? null;
  if (newest === null) {
    return { status: "not-applicable", detail: `running ${running}; no kernel image in /boot or /lib/modules (a container, or /boot not mounted)`, findings: [] };
  }
  const fact: KernelFact = { running, newestInstalled: newest, rebootNeeded: compareReleases(newest, running) > 0 };
  const finding = kernelFinding(fact);
  const notes = [`running ${running}`, `${installed.length} installed, newest ${newest}`];
  if (!installed.includes(running)) notes.push("the running kernel's image is no longer installed");
  return { status: "ok", detail: notes.join("; ").slice(0, 1000), findings: finding ? [finding] : [], fact };
}

export const kernelProbe: Probe<KernelFact> = {
  name: "kernel",
  description: "the running kernel against the newest installed one: a reboot that changes the kernel is pending",
  defaultEnabled: true,
  fact: KERNEL_FACT,
  collect: collectKernel,
};
