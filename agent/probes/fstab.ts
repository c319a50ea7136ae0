/**
 * The fstab probe: what in /etc/fstab will hurt at the next boot. Each rule
 * below names the systemd behaviour it rests on; remedies are corrected lines
 * wherever one exists (see formatFstabLine).
 *
 * "Blocks the boot" means: systemd-fstab-generator makes local-fs.target
 * Require= the mount (no nofail, noauto or x-systemd.automount), and a failed
 * requirement of local-fs.target starts emergency.target. Swap is required by
 * swap.target only, which has no such OnFailure=, so swap problems are never
 * critical. Network mounts go to remote-fs.target; without nofail a dead server
 * holds the boot (and everything ordered after the mount) until mount.nfs gives up.
 */
import fs from "node:fs/promises";
import { isIP } from "node:net";
import { errorMessage } from "../../shared/errors.js";
import type { Severity } from "../../shared/protocol/findings.js";
import type { FstabEntry, FstabParseError } from "./fstab-types.js";
import { fstabOption, formatFstabLine, networkServers, parseFstab, parseSourceTag, suggestFstabLineFix } from "./fstab-parse.js";
import { BLKID_LIST, DeviceResolver, type SourceResolution } from "./blkid.js";
import { LOOKUP_CONCURRENCY, lookUpServers, type Lookup } from "./fstab-lookups.js";
import { mapBounded } from "./bounded-map.js";
import { shareOf, stageSignal } from "./deadline.js";
import type { HostRoot } from "./host-root.js";
import type { Probe } from "./types.js";
import { FindingSet } from "./fstab-findings.js";
import { readFstab, type FstabText } from "./fstab-read.js";

export { FSTAB_CODES } from "./fstab-findings.js";

/**
 * Added to network entries that have no timeout. It bounds the mount job itself:
 * a healthy NAS on the LAN mounts in well under a second, while a dead one holds
 * the job (and units ordered after it, e.g. libvirt guests stored there) for
 * systemd's 90 s default, or mount.nfs's 2-minute foreground retry. 30 s leaves
 * a slow server room to answer and costs a reboot little when it cannot.
 */
export const NETWORK_MOUNT_TIMEOUT_OPTION = "x-systemd.mount-timeout=30";

/** Network types systemd recognises as such by name (after dropping "fuse."); others need _netdev to be ordered after the network. */
const SYSTEMD_NETWORK_FSTYPES = new Set([
  "afs", "ceph", "cifs", "gfs", "gfs2", "ncp", "ncpfs", "nfs", "nfs4", "ocfs2", "orangefs", "pvfs2", "smb3", "smbfs",
  "davfs", "glusterfs", "lustre", "sshfs",
]);

/** Declared types that mount what blkid reports as another type. */
const ACCEPTS: Record<string, string[]> = {
  ext4: ["ext2", "ext3", "ext4", "ext4dev"],
  ext4dev: ["ext2", "ext3", "ext4", "ext4dev"],
  ext3: ["ext2", "ext3"],
  swap: ["swap", "swsuspend"],
  ntfs3: ["ntfs"],
  vfat: ["vfat", "msdos"],
  msdos: ["vfat", "msdos"],
};

/** blkid types that are containers, not mountable filesystems, and what to mount instead. */
const CONTAINERS: Record<string, string> = {
  crypto_LUKS: "a LUKS container: open it (crypttab) and mount /dev/mapper/NAME",
  LVM2_member: "an LVM physical volume: mount one of its logical volumes (/dev/VG/LV)",
  linux_raid_member: "an md RAID member: mount the array (/dev/mdN)",
  zfs_member: "a ZFS pool member: ZFS mounts its datasets itself",
  bcache: "a bcache backing device: mount /dev/bcacheN",
  drbd: "a DRBD backing device: mount /dev/drbdN",
};

const UNSTABLE_NAME = /^\/dev\/(?:(?:sd|vd|xvd|hd)[a-z]+\d*|nvme\d+n\d+(?:p\d+)?|mmcblk\d+(?:p\d+)?)$/;

/**
 * Shares of the probe's time (from its start to the runner's deadline) by which
 * the name lookups, and then the device checks, must be over: what is not done
 * by then is reported as not checked, and the probe still reports.
 */
const LOOKUPS_SHARE = 0.5;
const DEVICES_SHARE = 0.8;

function has(entry: FstabEntry, option: string): boolean {
  return fstabOption(entry, option) !== undefined;
}

/** The subject of an entry's findings: its mount point; for swap (mount point "none") the device. */
export function fstabSubject(entry: FstabEntry): string {
  if (entry.swap) return `swap ${entry.source}`;
  return entry.mountPoint.startsWith("/") ? normalizePath(entry.mountPoint) : entry.mountPoint;
}

/** Whether a failure of this entry fails local-fs.target (emergency mode). */
function blocksBoot(entry: FstabEntry): boolean {
  return !entry.swap && !has(entry, "nofail") && !has(entry, "noauto") && !has(entry, "x-systemd.automount");
}

/** Critical when it blocks the boot; info for noauto (only a manual mount would fail); else warning. */
function bootSeverity(entry: FstabEntry): Severity {
  if (blocksBoot(entry)) return "critical";
  return has(entry, "noauto") ? "info" : "warning";
}

function normalizePath(p: string): string {
  const collapsed = p.replace(/\/+/g, "/").replace(/\/\.(?=\/|$)/g, "");
  return collapsed.length > 1 ? collapsed.replace(/\/$/, "") : collapsed;
}

function isBelow(child: string, parent: string): boolean {
  const c = normalizePath(child);
  const p = normalizePath(parent);
  return p !== "/" && (c === p || c.startsWith(`${p}/`));
}

function withOptions(entry: FstabEntry, add: string[]): string[] {
  return [...entry.options, ...add.filter((o) => !entry.options.includes(o))];
}

/** What a failure of this entry does to the boot. */
function consequence(entry: FstabEntry): string {
  if (entry.swap) return "the host runs without this swap (swap.target does not stop the boot)";
  if (has(entry, "noauto")) return "nothing happens at boot (noauto), but mounting it by hand fails";
  if (has(entry, "nofail")) return "the boot continues without it (nofail)";
  if (has(entry, "x-systemd.automount")) return "the first access to it fails, the boot continues (x-systemd.automount)";
  return "local-fs.target fails with it and the host boots into emergency mode";
}

/** Names listed in the host's /etc/hosts, lower-cased: they resolve at boot without DNS. */
async function hostsFileNames(root: HostRoot): Promise<Set<string>> {
  const names = new Set<string>();
  let text: string;
  try {
    text = await fs.readFile(root.path("/etc/hosts"), "utf8");
  } catch {
    return names;
  }
  for (const line of text.split("\n")) {
    const fields = line.replace(/#.*/, "").trim().split(/\s+/);
    if (fields.length >= 2 && isIP(fields[0]!)) for (const n of fields.slice(1)) names.add(n.toLowerCase());
  }
  return names;
}

function replaceServer(source: string, host: string, address: string): string {
  const escaped = host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return source.replace(new RegExp(`(^|[/@,#\\\\])${escaped}(?=[:/\\\\,]|$)`), `$1${address}`);
}

function unparseable(set: FindingSet, error: FstabParseError): void {
  const fix = suggestFstabLineFix(error.raw);
  set.add(error.lineNo, "NS_FSTAB_UNPARSEABLE", "warning", `line ${error.lineNo}`,
    `line ${error.lineNo} cannot be parsed (${error.reason}); mount and systemd skip it, so whatever it was meant to mount is not mounted at boot`,
    fix ?? `#${error.raw}`);
}

function duplicates(set: FindingSet, entries: FstabEntry[]): void {
  const groups = new Map<string, FstabEntry[]>();
  for (const e of entries) {
    if (!e.swap && (e.mountPoint === "none" || !e.mountPoint.startsWith("/"))) continue;
    const key = e.swap ? `swap ${e.source}` : normalizePath(e.mountPoint);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  for (const [key, group] of groups) {
    if (group.length < 2) continue;
    const [first, ...rest] = group as [FstabEntry, ...FstabEntry[]];
    const lines = group.length === 2 ? `lines ${first.lineNo} and ${rest[0]!.lineNo} both` : `lines ${group.map((e) => e.lineNo).join(", ")} all`;
    set.add(first.lineNo, "NS_FSTAB_DUPLICATE_MOUNT_POINT", "warning", key,
      `${lines} ${first.swap ? "activate" : "mount"} ${key}: at boot systemd-fstab-generator uses line ${first.lineNo} and drops ` +
      `the others with an error; mount -a would mount each in turn, the last on top`,
      rest.map((e) => `#${e.raw}`).join("\n"));
  }
}

/** The servers of a network entry that are named by a hostname DNS must answer for at boot. */
function serversByName(entry: FstabEntry, hostsFile: Set<string>): string[] {
  // noauto: not mounted at boot. cifs with ip=/addr=: mount.cifs does not resolve the name.
  if (has(entry, "noauto")) return [];
  if (/^(cifs|smb3|smbfs)$/.test(entry.fstype) && (has(entry, "ip") || has(entry, "addr"))) return [];
  return networkServers(entry.source, entry.fstype).filter((s) => isIP(s.replace(/%.*$/, "")) === 0 && !hostsFile.has(s.toLowerCase()));
}

function networkRules(set: FindingSet, entry: FstabEntry, hostsFile: Set<string>, lookups: Map<string, Lookup>): void {
  // noauto: not mounted at boot, so nothing here concerns the boot.
  if (has(entry, "noauto")) return;
  const n = entry.lineNo;
  const subject = fstabSubject(entry);
  const bg = has(entry, "bg"); // systemd turns NFS bg into nofail with an unbounded background retry
  const needNofail = !has(entry, "nofail") && !bg && !has(entry, "x-systemd.automount");
  const needNetdev = !has(entry, "_netdev");
  const needTimeout = !bg && !has(entry, "x-systemd.mount-timeout") && !has(entry, "x-systemd.device-timeout");
  const byName = serversByName(entry, hostsFile);
  if (!needNofail && !needNetdev && !needTimeout && byName.length === 0) return;

  const addressOf = (host: string) => {
    const lookup = lookups.get(host);
    return lookup?.state === "resolved" ? lookup.address : null;
  };
  let source = entry.source;
  for (const host of byName) {
    const address = addressOf(host);
    if (address) source = replaceServer(source, host, address);
  }
  const add = [needNofail ? "nofail" : "", needNetdev ? "_netdev" : "", needTimeout ? NETWORK_MOUNT_TIMEOUT_OPTION : ""].filter(Boolean);
  const fixed = formatFstabLine(entry, { options: withOptions(entry, add), ...(source !== entry.source ? { source } : {}) });
  const server = entry.server ?? "the server";

  if (needNofail) {
    set.add(n, "NS_FSTAB_NETWORK_NO_NOFAIL", "critical", subject,
      `line ${n}: ${entry.fstype} mount of ${entry.source} without nofail: when ${server} is down or cannot be reached at boot, ` +
      `the boot waits for the mount and then fails it (the incident: emergency mode); with nofail the host boots without it`, fixed);
  }
  if (needNetdev) {
    const bare = entry.fstype.toLowerCase().replace(/^fuse\./, "");
    set.add(n, "NS_FSTAB_NETWORK_NO_NETDEV", "warning", subject, SYSTEMD_NETWORK_FSTYPES.has(bare)
      ? `line ${n}: no _netdev: systemd infers from the type ${entry.fstype} that this mount needs the network, but other tools reading fstab ` +
        `(mount -a, non-systemd init) do not; _netdev states it in the line`
      : `line ${n}: no _netdev, and systemd does not know that ${entry.fstype} needs the network: it may try the mount before the network is up`,
    fixed);
  }
  if (needTimeout) {
    set.add(n, "NS_FSTAB_NETWORK_NO_TIMEOUT", "warning", subject,
      `line ${n}: no x-systemd.mount-timeout= (or x-systemd.device-timeout=): a dead server holds the mount job, and every unit ordered after ` +
      `it, for systemd's default 90 s or mount.nfs's 2 minutes of retries`, fixed);
  }
  for (const host of byName) {
    const address = addressOf(host);
    const now = address ? `. ${host} resolves to ${address} now`
      : lookups.get(host)?.state === "unchecked" ? `. Whether ${host} resolves from here now was not looked up in time (see NS_FSTAB_SERVERS_UNCHECKED)`
        : `. ${host} does not resolve from here now either`;
    set.add(n, "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "warning", subject,
      `line ${n}: server ${host} is named by hostname and is not in /etc/hosts, so this mount needs DNS at boot; if the DNS server is a VM ` +
      `stored on this mount (or started after it), the name cannot resolve and the mount fails${now}`,
      address ? fixed : `replace ${host} with its IP address (or list it in /etc/hosts), and do not serve DNS from a VM on this storage: ${fixed}`);
  }
}

function localOnNetwork(set: FindingSet, entry: FstabEntry, networkEntries: FstabEntry[]): void {
  if (entry.network || has(entry, "_netdev")) return;
  const paths: { what: string; path: string }[] = [];
  if (!entry.swap && entry.mountPoint.startsWith("/")) paths.push({ what: "mount point", path: entry.mountPoint });
  if (entry.sourceKind === "bind" || (entry.sourceKind === "path" && !entry.source.startsWith("/dev/") && entry.source.startsWith("/"))) {
    paths.push({ what: entry.bind ? "bind source" : "source", path: entry.source });
  }
  for (const { what, path: p } of paths) {
    const under = networkEntries.find((net) => net !== entry && isBelow(p, net.mountPoint) && (what !== "mount point" || normalizePath(p) !== normalizePath(net.mountPoint)));
    if (!under) continue;
    const add = ["_netdev", ...(has(entry, "nofail") ? [] : ["nofail"])];
    set.add(entry.lineNo, "NS_FSTAB_LOCAL_ON_NETWORK", bootSeverity(entry), fstabSubject(entry),
      `line ${entry.lineNo}: the ${what} ${p} lies on the ${under.fstype} mount ${under.mountPoint} (line ${under.lineNo}), so this entry ` +
      `requires that mount, yet without _netdev it is ordered as local, before the network is up: a down server (or the ordering cycle) ` +
      `fails it, and ${consequence(entry)}; _netdev orders it after the network mount`, formatFstabLine(entry, withOptions(entry, add)));
    return;
  }
}

function needsDevice(entry: FstabEntry): boolean {
  return ["path", "uuid", "label", "partuuid", "partlabel"].includes(entry.sourceKind) || entry.sourceKind === "bind";
}

function deviceRules(set: FindingSet, entry: FstabEntry, r: SourceResolution): void {
  const n = entry.lineNo;
  const subject = fstabSubject(entry);
  const severity = bootSeverity(entry);
  const nofailLine = formatFstabLine(entry, withOptions(entry, ["nofail"]));
  if (!r.exists) {
    if (entry.bind) {
      set.add(n, "NS_FSTAB_DEVICE_MISSING", severity, subject,
        `line ${n}: the bind source ${entry.source} does not exist: the bind mount fails, and ${consequence(entry)}`,
        !blocksBoot(entry) ? `create ${entry.source} (mkdir -p) or correct the path` : `create ${entry.source} (mkdir -p) or correct the path; to keep it from stopping the boot: ${nofailLine}`);
      return;
    }
    const tag = parseSourceTag(entry.source);
    if (tag && r.caseMismatch) {
      const actual = r.caseMismatch.tags[tag.tag]!;
      set.add(n, "NS_FSTAB_DEVICE_MISSING", severity, subject,
        `line ${n}: no device has ${tag.tag}=${tag.value}; ${r.caseMismatch.devname} has ${tag.tag}=${actual}, which differs only in letter case, ` +
        `but systemd waits for /dev/disk/by-${tag.tag.toLowerCase()}/${tag.value} (case-sensitive), which never appears, and ${consequence(entry)}`,
        formatFstabLine(entry, { source: `${tag.tag}=${actual}` }));
      return;
    }
    const what = tag ? `no device has ${tag.tag}=${tag.value}` : `${entry.source} does not exist`;
    const waits = blocksBoot(entry) || entry.swap ? `at boot systemd waits for it (90 s by default), then fails the ${entry.swap ? "swap" : "mount"}, and ` : "";
    set.add(n, "NS_FSTAB_DEVICE_MISSING", severity, subject,
      `line ${n}: ${what}: ${waits}${consequence(entry)}`,
      !blocksBoot(entry)
        ? `if the disk is gone for good, comment the line out: #${entry.raw}`
        : `if the disk is gone for good, comment the line out (#${entry.raw}); if it is only sometimes attached: ${nofailLine}`);
    return;
  }
  if (entry.bind) return;
  if (r.fstype !== null) typeRule(set, entry, r.fstype, r.device ?? entry.source);
  if (UNSTABLE_NAME.test(entry.source)) {
    set.add(n, "NS_FSTAB_UNSTABLE_DEVICE_NAME", "warning", subject,
      `line ${n}: ${entry.source} is a kernel name, given out in probe order: after a disk is added, removed or fails, it can name another ` +
      `disk, and this entry then mounts the wrong one or none`,
      r.uuid ? formatFstabLine(entry, { source: `UUID=${r.uuid}` }) : `name the device by UUID= (see blkid ${entry.source}) or a /dev/disk/by-id/ link`);
  }
}

function typeRule(set: FindingSet, entry: FstabEntry, actual: string, device: string): void {
  const declared = entry.fstype.split(",");
  if (declared.includes("auto") || declared.some((t) => t === actual || ACCEPTS[t]?.includes(actual))) return;
  const n = entry.lineNo;
  const severity = bootSeverity(entry);
  const container = CONTAINERS[actual];
  let remedy: string;
  if (container) remedy = `${device} holds ${container}; or comment the line out: #${entry.raw}`;
  else if (entry.swap) remedy = `${device} holds ${actual}, not swap: point the entry at the swap device, or comment it out: #${entry.raw}`;
  else if (actual === "swap") remedy = `${device} is a swap area: make it a swap entry, or comment the line out: #${entry.raw}`;
  else remedy = formatFstabLine(entry, { fstype: actual });
  set.add(n, "NS_FSTAB_TYPE_MISMATCH", severity, fstabSubject(entry),
    `line ${n}: declared ${entry.fstype} but ${device} holds ${actual} (blkid): ${entry.swap ? "swapon" : `mount -t ${entry.fstype}`} fails, and ${consequence(entry)}`,
    remedy);
}

/** Names whose lookup the time did not allow: their lines' findings say so, and this says how many. */
function serversUnchecked(set: FindingSet, unlooked: string[], total: number, budgetMs: number): void {
  const listed = unlooked.slice(0, 20).join(", ") + (unlooked.length > 20 ? `, … and ${unlooked.length - 20} more` : "");
  set.add(0, "NS_FSTAB_SERVERS_UNCHECKED", "info", "server names",
    `${unlooked.length} of ${total} server names were not looked up within the probe's time (${Math.round(budgetMs)} ms for lookups, ` +
    `${LOOKUP_CONCURRENCY} at a time): ${listed}. Their lines are still reported as needing DNS at boot; only the address they resolve to now, ` +
    "for the corrected line, is missing",
    "list the servers in /etc/hosts or name them by address (then nothing needs looking up), or raise probes.probeTimeout");
}

/** A file cut short by the read bound: the part not checked is itself the finding. */
function tooLarge(set: FindingSet, file: string, read: FstabText, lines: number): void {
  set.add(0, "NS_FSTAB_TOO_LARGE", "critical", "fstab",
    `${file} is ${read.size} bytes; a written fstab is a few kilobytes, so it is damaged or is not an fstab. Only its first ` +
    `${read.checkedBytes} bytes (${lines} lines) were checked: what mount and systemd make of the rest at boot is unknown`,
    `restore ${file} from a backup, or write it anew with the mounts this host needs, and check it with \`findmnt --fstab --verify\` before the next boot`);
}

export const fstabProbe: Probe = {
  name: "fstab",
  description: "/etc/fstab entries that would fail or hang the next boot: network mounts, missing devices, wrong types, duplicates, unparseable lines",
  defaultEnabled: true,

  async collect(ctx) {
    const read = await readFstab(ctx.root.fstab);
    if (read === null) return { status: "not-applicable", detail: `no fstab at ${ctx.root.fstab}`, findings: [] };
    const fstab = parseFstab(read.text);
    const set = new FindingSet();
    if (read.truncated) tooLarge(set, ctx.root.fstab, read, read.text.split("\n").length - 1);
    for (const error of fstab.errors) unparseable(set, error);
    duplicates(set, fstab.entries);

    const networkEntries = fstab.entries.filter((e) => e.network);
    const hostsFile = networkEntries.length ? await hostsFileNames(ctx.root) : new Set<string>();
    // Each name once, a few at a time, until the lookups' share of the time is used up.
    const names = [...new Set(networkEntries.flatMap((e) => serversByName(e, hostsFile)))];
    const lookupsFrom = performance.now();
    const lookupsBy = shareOf(ctx.deadline, ctx.settings.probeTimeout, LOOKUPS_SHARE);
    const lookups = await lookUpServers(ctx.commands, names, { signal: ctx.signal, deadline: lookupsBy });
    const unlooked = names.filter((name) => lookups.get(name)?.state === "unchecked");
    if (unlooked.length) serversUnchecked(set, unlooked, names.length, Math.max(0, lookupsBy - lookupsFrom));
    for (const entry of fstab.entries) {
      if (entry.network) networkRules(set, entry, hostsFile, lookups);
      else localOnNetwork(set, entry, networkEntries);
    }

    const local = fstab.entries.filter(needsDevice);
    let devices = "no local devices to check";
    if (local.length) {
      let resolver: DeviceResolver | null = null;
      let why = "";
      try {
        resolver = await DeviceResolver.open(ctx.root, ctx.commands, ctx.signal);
      } catch (err) {
        why = errorMessage(err);
      }
      if (resolver) {
        // Paths on network mounts are not looked at: a stat there can hang, and LOCAL_ON_NETWORK covers them.
        const checkable = local.filter((e) => !networkEntries.some((net) => isBelow(e.source, net.mountPoint)));
        // A child per path at most (test -e, blkid), a few at a time, until the devices' share of the time is used up.
        const stage = stageSignal(ctx.signal, shareOf(ctx.deadline, ctx.settings.probeTimeout, DEVICES_SHARE), "the device checks' share of the probe's time is used up");
        const resolutions = await mapBounded(checkable, LOOKUP_CONCURRENCY, stage.signal, (e) => resolver.resolve(e.source, stage.signal));
        stage.done();
        // Not started, or cut short by the deadline (a check that failed on its own is a path that did not answer).
        const notChecked = resolutions.filter((r) => r.state === "skipped" || (r.state === "failed" && stage.expired)).length;
        // A path that did not answer (a hung mount under it) is left unjudged rather than reported missing.
        checkable.forEach((e, i) => {
          const r = resolutions[i]!;
          if (r.state === "done") deviceRules(set, e, r.value);
        });
        if (notChecked > 0) {
          set.add(0, "NS_FSTAB_DEVICES_UNCHECKED", "critical", "devices",
            `${notChecked} of ${checkable.length} local entries were not checked for missing devices or wrong filesystem types (the cause of ` +
            `emergency mode): the probe's time ran out (${LOOKUP_CONCURRENCY} checks at a time)`,
            "raise probes.probeTimeout, or run `nightshift-agent check --probe fstab` with a larger one in --settings");
        }
        devices = `${resolver.devices.length} block devices from ${resolver.origin}${notChecked ? `, ${notChecked} entries not checked in time` : ""}`;
      } else {
        // Critical: the check that catches what sends hosts to emergency mode did not run, so `check && reboot` must not pass.
        set.add(0, "NS_FSTAB_DEVICES_UNCHECKED", "critical", "devices",
          `${local.length} local entries were not checked for missing devices or wrong filesystem types (the cause of emergency mode): ${why}`,
          ctx.commands.remedy(BLKID_LIST));
        devices = `devices unchecked: ${why}`;
      }
    }
    return {
      status: "ok",
      detail: `${fstab.entries.length} entries (${networkEntries.length} network), ${fstab.errors.length} unparseable` +
        `${read.truncated ? ` in the first ${read.checkedBytes} of ${read.size} bytes` : ""}; ` +
        `${names.length ? `${names.length - unlooked.length} of ${names.length} server names looked up; ` : ""}${devices}`.slice(0, 1000),
      findings: set.list(ctx.settings.findingsPerCode),
    };
  },
};
