/**
 * Probe "netconsole": will a boot that stops in emergency or rescue mode reach
 * the controller while it happens? The agent sets kernel netconsole up along
 * its connection (agent/netconsole/); this probe says when that cannot work,
 * so the gap is a finding on record, not a silent absence:
 *
 * - the setup itself failed: no IPv4 route, no next-hop MAC (not Ethernet), an
 *   interface that does not exist in emergency mode and has no single physical
 *   NIC beneath it (a VLAN, an LACP bond, a bridge over several NICs), the file
 *   could not be written;
 * - the running kernel has no netconsole (its /boot/config-RELEASE, else its
 *   modules.dep and modules.builtin; not judged when neither is readable, as
 *   under the unit's ProtectKernelModules=, which hides /lib/modules);
 * - nightshift-emergency-report.service, the unit that loads netconsole and
 *   writes the report in emergency mode, is not enabled for emergency.target
 *   and rescue.target, or its ExecStart= program is missing.
 *
 * One code, NS_HOST_NETCONSOLE_UNAVAILABLE (warning), one finding per reason.
 * Not-applicable when the controller has no netconsole listener, and outside
 * the daemon (`check`): the setup follows the live connection to the controller.
 *
 * Not covered by design: a failure inside the initramfs (the root file system
 * never mounted), where neither the unit nor the agent's options exist; the
 * initramfs's own shell is seen as the host missing.
 */
import { lstat, readFile, stat } from "node:fs/promises";
import type { HostRoot } from "./host-root.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";

export const REPORT_UNIT = "nightshift-emergency-report.service";
const UNIT_DIRS = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];
const TARGETS = ["emergency.target", "rescue.target"];

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return null;
  }
}

/**
 * `link`: the entry itself (lstat): a .wants/ entry names the unit by an absolute host
 * path, which a fixture root does not resolve.
 */
async function exists(file: string, link = false): Promise<boolean> {
  try {
    await (link ? lstat(file) : stat(file));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the running kernel can load netconsole: loaded; its /boot/config-RELEASE says
 * CONFIG_NETCONSOLE=y or =m; or built in / a module of its release. null: nothing
 * readable says (the unit's ProtectKernelModules= hides /lib/modules, and a kernel
 * without /boot/config is not judged on no evidence).
 */
export async function kernelHasNetconsole(root: HostRoot): Promise<{ ok: boolean | null; release: string | null }> {
  const release = (await readText(root.path("/proc/sys/kernel/osrelease")))?.trim() ?? null;
  if (await exists(root.path("/sys/module/netconsole"))) return { ok: true, release };
  if (!release) return { ok: null, release };
  const config = await readText(root.path(`/boot/config-${release}`));
  if (config !== null) return { ok: /^CONFIG_NETCONSOLE=[ym]$/m.test(config), release };
  let looked = false;
  for (const dir of ["/lib/modules", "/usr/lib/modules"]) {
    const base = `${dir}/${release}`;
    const builtin = await readText(root.path(`${base}/modules.builtin`));
    if (builtin && /(^|\/)netconsole\.ko$/m.test(builtin)) return { ok: true, release };
    const dep = await readText(root.path(`${base}/modules.dep`));
    if (dep && /(^|\/)netconsole\.ko(\.[a-z]+)?:/m.test(dep)) return { ok: true, release };
    looked ||= dep !== null;
  }
  return { ok: looked ? false : null, release };
}

/** The targets whose .wants/ lacks the report unit, and the unit's ExecStart= program if it is missing. */
export async function reportUnitGaps(root: HostRoot): Promise<{ notWantedBy: string[]; missingProgram: string | null; unitFile: string | null }> {
  const notWantedBy: string[] = [];
  for (const target of TARGETS) {
    let wanted = false;
    for (const dir of UNIT_DIRS) {
      wanted ||= await exists(root.path(`${dir}/${target}.wants/${REPORT_UNIT}`), true);
    }
    if (!wanted) notWantedBy.push(target);
  }
  // `systemctl enable` of a unit kept elsewhere links it into /etc/systemd/system too: these dirs find it.
  let unitFile: string | null = null;
  for (const dir of UNIT_DIRS) {
    if (!unitFile && await exists(root.path(`${dir}/${REPORT_UNIT}`))) unitFile = `${dir}/${REPORT_UNIT}`;
  }
  let missingProgram: string | null = null;
  const text = unitFile ? await readText(root.path(unitFile)) : null;
  const exec = text ? /^ExecStart=[-@:+!]*(\S+)/m.exec(text)?.[1] : undefined;
  if (exec && exec.startsWith("/") && !(await exists(root.path(exec)))) missingProgram = exec;
  return { notWantedBy, missingProgram, unitFile };
}

function unavailable(reason: string, remedy: string): ProbeFinding {
  return {
    code: "NS_HOST_NETCONSOLE_UNAVAILABLE", severity: "warning", subject: "netconsole",
    message: `A boot of this host that stops in emergency or rescue mode will not reach the controller while it happens: ${reason}. `
      + "It will be seen only as the host missing, minutes later.",
    remedy,
  };
}

export async function collectNetconsole(ctx: ProbeContext): Promise<ProbeOutput> {
  const status = ctx.netconsole;
  if (!status) return { status: "not-applicable", detail: "set up by the agent daemon along its connection to the controller", findings: [] };
  if (status.state === "off") return { status: "not-applicable", detail: "the controller has no netconsole listener (netconsole.listen)", findings: [] };
  const findings: ProbeFinding[] = [];
  if (status.state === "unavailable") {
    findings.push(unavailable(status.reason, "Give the host a path netconsole can use: an IPv4 route to the controller over Ethernet whose "
      + "interface exists at boot without user space (a physical NIC, a bridge over one NIC, an active-backup bond), and check the agent's "
      + "journal (NS_ERR_NETCONSOLE); or accept the gap for this host."));
  }
  const kernel = await kernelHasNetconsole(ctx.root);
  if (kernel.ok === false) {
    findings.push(unavailable(`the running kernel ${kernel.release ?? "(unknown release)"} has no netconsole (not loaded; not in its /boot/config, or not built in and no module in modules.dep)`,
      "Install the kernel's modules package (Debian: linux-image-* ships netconsole.ko) or build CONFIG_NETCONSOLE."));
  }
  const unit = await reportUnitGaps(ctx.root);
  if (unit.notWantedBy.length > 0) {
    findings.push(unavailable(`${REPORT_UNIT} is not enabled for ${unit.notWantedBy.join(" and ")}${unit.unitFile ? "" : " (no unit file installed)"}, `
      + "so nothing loads netconsole or writes the report there",
      `Install systemd/${REPORT_UNIT} and its program under /opt/nightshift/systemd/ and run \`systemctl enable ${REPORT_UNIT}\`.`));
  }
  if (unit.missingProgram) {
    findings.push(unavailable(`${REPORT_UNIT} runs ${unit.missingProgram}, which does not exist`,
      `Install systemd/nightshift-emergency-report as ${unit.missingProgram} (mode 0755).`));
  }
  const detail = status.state === "configured"
    ? `options ${status.options}${status.via ? ` (${status.device}: ${status.via})` : ""}`
    : `not set up: ${status.reason}`;
  return { status: "ok", detail: detail.slice(0, 1000), findings };
}

export const netconsoleProbe: Probe = {
  name: "netconsole",
  description: "whether a boot that stops in emergency or rescue mode reaches the controller over kernel netconsole",
  defaultEnabled: true,
  collect: collectNetconsole,
};
