/**
 * Probe "vm-placement": where each VM's disks live and whether the VM comes
 * back by itself, read from libvirt (not-applicable without a connection).
 *
 * - A disk on network storage: its source path's mount (mountinfo.ts; of the mounts in
 *   effect, the longest mount-point prefix) is nfs, nfs4, cifs, smb3, glusterfs, ceph, a
 *   cluster file system, or fuse.* other than local helpers like lxcfs; or it is a network
 *   disk (nbd, rbd, iscsi, gluster, http ...; also /dev/disk/by-path/ip-*-iscsi-*):
 *   NS_VM_DISK_ON_NETWORK_FS.
 *   Paths are resolved lexically, never stat()ed: a hung NFS mount must not hang the probe.
 * - A critical VM (domain-metadata.ts: <metadata> or settings) with autostart off.
 * - Two VMs of one HA group with disks on the same filesystem (same device in
 *   mountinfo), the same storage server, or the very same disk. Block devices are not
 *   traced to their physical volumes (two LVs of one VG are not seen as shared).
 * - A running VM whose QEMU process is older than settings.maxVmUptime: the
 *   process start is the VM's last cold boot as the host sees it (a reboot inside the
 *   guest keeps the process). /run/libvirt/qemu/<name>.pid -> /proc/<pid>/stat field 22
 *   (clock ticks after boot; CLK_TCK from `getconf CLK_TCK`, fixture commands/getconf-CLK_TCK,
 *   else 100) + btime in /proc/stat. No pid file (test driver, other hypervisors): no
 *   uptime, no finding.
 * - Marks in nightshift's metadata namespace that could not be understood.
 *
 * Host paths go through ctx.root, so a fixture tree's proc/self/mountinfo, proc/stat,
 * proc/<pid>/stat and run/libvirt/qemu/*.pid stand in for the host's.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { parseDomainDisks, type DomainDisk } from "../libvirt/domain-xml.js";
import { isNotFound } from "../libvirt/errors.js";
import type { HostRoot } from "./host-root.js";
import { parseNightshiftMetadata, vmMarks, type VmMarks } from "./domain-metadata.js";
import { networkServers } from "./fstab-parse.js";
import { parseMountInfo, topMounts, type MountInfoEntry } from "./mountinfo.js";
import type { HostCommand, HostCommands } from "./commands.js";
import type { ProbeSettings } from "./settings.js";
import { formatDuration } from "../../shared/duration.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";

// --- mounts (pure) -------------------------------------------------------------------

/**
 * The mount a path lies on: longest mount-point prefix. Pass the mounts in effect
 * (mountinfo.ts topMounts); of equal mount points the later one wins (it covers the earlier).
 */
export function mountFor(hostPath: string, mounts: readonly MountInfoEntry[]): MountInfoEntry | null {
  const p = path.posix.normalize(hostPath);
  let best: MountInfoEntry | null = null;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === "/" || p === mp || p.startsWith(mp.endsWith("/") ? mp : `${mp}/`);
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

const NETWORK_FSTYPES = new Set(["nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "glusterfs", "ceph", "afs", "lustre",
  "beegfs", "gpfs", "ocfs2", "gfs2"]);
/** FUSE file systems that serve local data. */
const LOCAL_FUSE = new Set(["fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "fuse.fuse-overlayfs", "fuse.bindfs",
  "fuse.squashfuse", "fuse.snapfuse", "fuse.encfs", "fuse.gocryptfs", "fuse.vmware-vmblock"]);

/**
 * Whether a file system's data lives on other machines. Not mounts.ts's isNetworkFstype,
 * which asks whether a mount can hang (a FUSE daemon serving local data can; it is not
 * a storage server a VM depends on).
 */
export function isNetworkStorage(fstype: string): boolean {
  return NETWORK_FSTYPES.has(fstype) || (fstype.startsWith("fuse.") && !LOCAL_FUSE.has(fstype));
}

/**
 * The storage server a network mount's source names, lower-cased (the fstab parser's
 * reading, so findings name servers alike); null when the source names none.
 */
export function serverOfMountSource(fstype: string, source: string): string | null {
  return networkServers(source, fstype)[0]?.toLowerCase() ?? null;
}

// --- disks (pure) ---------------------------------------------------------------------

export interface DiskPlacement {
  /** The disk's data depends on the network (network filesystem or network disk). */
  network: boolean;
  /** The mount the source path is on (file, dir and block disks); null for network disks. */
  mount: MountInfoEntry | null;
  server: string | null;
  /** Human description: "nfs4 nas01:/export mounted at /srv/vm", "rbd://mon1/pool/img". */
  where: string;
}

/** Devices whose data matters for the VM's availability (not install media). */
function isDataDisk(disk: DomainDisk): boolean {
  return disk.device === "disk" || disk.device === "lun";
}

export function placeDisk(disk: DomainDisk, mounts: readonly MountInfoEntry[]): DiskPlacement | null {
  if (!disk.source) return null;
  if (disk.type === "network") {
    const m = /^[a-z0-9+.-]+:\/\/(\[[^\]]+\]|[^/:]+)/i.exec(disk.source);
    return { network: true, mount: null, server: m ? m[1]!.replace(/^\[|\]$/g, "").toLowerCase() : null, where: `network disk ${disk.source}` };
  }
  // Storage pool volumes ("pool/volume") would need the pool's definition: not placed.
  if (disk.type === "volume" || !disk.source.startsWith("/")) return null;
  const iscsi = /^\/dev\/disk\/by-path\/ip-(\[[^\]]+\]|[^:]+):\d+-iscsi-/.exec(disk.source);
  if (iscsi) return { network: true, mount: null, server: iscsi[1]!.replace(/^\[|\]$/g, "").toLowerCase(), where: `iSCSI device ${disk.source}` };
  // A device node lives on devtmpfs, which says nothing about where its data is.
  if (disk.type === "block" || disk.source.startsWith("/dev/")) return { network: false, mount: null, server: null, where: `block device ${disk.source}` };
  const mount = mountFor(disk.source, mounts);
  if (!mount) return null;
  const network = isNetworkStorage(mount.fstype);
  return {
    network, mount,
    server: network ? serverOfMountSource(mount.fstype, mount.source) : null,
    where: `${mount.fstype} ${mount.source} mounted at ${mount.mountPoint}`,
  };
}

// --- assessment (pure) -------------------------------------------------------------------

export interface PlacementDomain {
  name: string;
  autostart: boolean;
  persistent: boolean;
  disks: DomainDisk[];
  marks: VmMarks;
  /** Problems with the nightshift metadata (domain-metadata.ts). */
  metadataProblems: string[];
  /** Start of the QEMU process, or null when unknown / not running. */
  startedAt: Date | null;
}

const DAY_MS = 86_400_000;

export function assessPlacement(domains: readonly PlacementDomain[], mounts: readonly MountInfoEntry[],
  settings: Pick<ProbeSettings, "maxVmUptime">, now: Date): ProbeFinding[] {
  const findings: ProbeFinding[] = [];
  const placements = new Map<string, { disk: DomainDisk; place: DiskPlacement }[]>();

  for (const dom of domains) {
    const placed: { disk: DomainDisk; place: DiskPlacement }[] = [];
    for (const disk of dom.disks) {
      const place = placeDisk(disk, mounts);
      if (!place) continue;
      placed.push({ disk, place });
      if (!place.network) continue;
      const onServer = place.server ? `; an outage or reboot of ${place.server} stalls this VM's I/O` : "; an outage of that storage stalls this VM's I/O";
      findings.push({
        code: "NS_VM_DISK_ON_NETWORK_FS", severity: "info", subject: `${dom.name}/${disk.target || disk.source}`,
        message: `${disk.device === "disk" ? "Disk" : disk.device} ${disk.target} of VM ${dom.name} (${disk.source}) is on ${place.where}${isDataDisk(disk) ? onServer : ""}.`,
        remedy: `Plan maintenance of ${place.server ?? "that storage"} together with this VM: shut it down or move it first.`,
      });
    }
    placements.set(dom.name, placed);

    if (dom.marks.critical && !dom.autostart) {
      const from = dom.marks.criticalFrom.join(" and ");
      findings.push({
        code: "NS_VM_CRITICAL_NO_AUTOSTART", severity: "critical", subject: dom.name,
        message: dom.persistent
          ? `VM ${dom.name} is marked critical (${from}) but autostart is off: after a host reboot it stays down.`
          : `VM ${dom.name} is marked critical (${from}) but is transient (not defined), so it cannot autostart and is gone after a host reboot.`,
        remedy: dom.persistent
          ? `virsh autostart ${dom.name}`
          : `virsh dumpxml ${dom.name} > ${dom.name}.xml && virsh define ${dom.name}.xml && virsh autostart ${dom.name}`,
      });
    }

    if (dom.startedAt) {
      const days = (now.getTime() - dom.startedAt.getTime()) / DAY_MS;
      if (now.getTime() - dom.startedAt.getTime() > settings.maxVmUptime) {
        findings.push({
          code: "NS_VM_UPTIME_EXCEEDED", severity: "warning", subject: dom.name,
          message: `VM ${dom.name} has run ${Math.floor(days)} days without a cold restart (QEMU process started ${dom.startedAt.toISOString()}; limit maxVmUptime ${formatDuration(settings.maxVmUptime)}).`,
          remedy: `Restart it as a precaution before any change (\`virsh shutdown ${dom.name}\`, then \`virsh start ${dom.name}\`; a reboot inside the guest keeps the same QEMU process), so a VM that no longer boots is found now, not in the middle of maintenance.`,
        });
      }
    }

    if (dom.metadataProblems.length > 0) {
      findings.push({
        code: "NS_VM_METADATA_INVALID", severity: "warning", subject: dom.name,
        message: `VM ${dom.name}: nightshift metadata not understood: ${dom.metadataProblems.join("; ")}`.slice(0, 2048),
        remedy: `Correct it with \`virsh edit ${dom.name}\` (format: README, "VM marks"); until then those marks are ignored.`,
      });
    }
  }

  findings.push(...haSharedStorage(domains, placements));
  return findings;
}

function haSharedStorage(domains: readonly PlacementDomain[],
  placements: ReadonlyMap<string, { disk: DomainDisk; place: DiskPlacement }[]>): ProbeFinding[] {
  const groups = new Map<string, string[]>();
  for (const dom of domains) for (const g of dom.marks.haGroups) groups.set(g, [...(groups.get(g) ?? []), dom.name]);

  const findings: ProbeFinding[] = [];
  for (const [group, members] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    members.sort();
    const shared: string[] = [];
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = members[i]!, b = members[j]!;
        const things = sharedStorage(placements.get(a) ?? [], placements.get(b) ?? []);
        if (things.length > 0) shared.push(`${a} and ${b} share ${things.join(" and ")}`);
      }
    }
    if (shared.length === 0) continue;
    findings.push({
      code: "NS_VM_HA_SHARED_STORAGE", severity: "critical", subject: `ha-group/${group}`,
      message: `HA group ${group}: ${shared.join("; ")}; one storage failure or maintenance takes the whole group down.`.slice(0, 2048),
      remedy: "Move one member's disks to storage independent of the other's (another filesystem on another storage server).",
    });
  }
  return findings;
}

/** What two VMs' data disks have in common: the very same disk, the same filesystem, else the same storage server. */
function sharedStorage(a: readonly { disk: DomainDisk; place: DiskPlacement }[],
  b: readonly { disk: DomainDisk; place: DiskPlacement }[]): string[] {
  const things = new Set<string>();
  const servers = new Set<string>();
  for (const x of a.filter((d) => isDataDisk(d.disk))) {
    for (const y of b.filter((d) => isDataDisk(d.disk))) {
      if (x.disk.source === y.disk.source) things.add(`disk ${x.disk.source}`);
      if (x.place.mount && y.place.mount && x.place.mount.major === y.place.mount.major && x.place.mount.minor === y.place.mount.minor) {
        things.add(`filesystem ${x.place.mount.mountPoint} (${x.place.mount.fstype} ${x.place.mount.source})`);
        if (x.place.server) servers.add(x.place.server);
      } else if (x.place.server && x.place.server === y.place.server) {
        servers.add(x.place.server);
        things.add(`storage server ${x.place.server}`);
      }
    }
  }
  // "storage server X" says less than a shared filesystem on X: keep it only when no filesystem on X is shared.
  return [...things].filter((t) => !(t.startsWith("storage server ") && [...things].some((o) => o.startsWith("filesystem ")
    && servers.has(t.slice("storage server ".length))))).sort();
}

// --- host facts: QEMU process start ---------------------------------------------------------

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH" || code === "ENOTDIR") return null;
    throw err;
  }
}

const CLK_TCK: HostCommand = {
  file: "getconf", args: ["CLK_TCK"], timeoutMs: 2_000, once: true,
  recorded: { name: "getconf-CLK_TCK", missing: { code: 1, stdout: "", stderr: "" } },
};

/** Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`, asked once); 100, Linux's, when it cannot be told. */
export async function clockTicks(commands: HostCommands, signal: AbortSignal): Promise<number> {
  try {
    const r = await commands.run(CLK_TCK, signal);
    const n = Number(r.stdout.trim());
    return r.code === 0 && Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** "btime" of /proc/stat: the host's boot, seconds since the epoch. */
export function parseBootTime(procStat: string): number | null {
  const m = /^btime\s+(\d+)\s*$/m.exec(procStat);
  return m ? Number(m[1]) : null;
}

/** comm and starttime (field 22, clock ticks after boot) of /proc/<pid>/stat; comm may hold spaces and parentheses. */
export function parseProcStat(stat: string): { comm: string; startTicks: number } | null {
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const rest = stat.slice(close + 2).split(" ");
  const startTicks = Number(rest[22 - 3]);
  return Number.isFinite(startTicks) ? { comm: stat.slice(open + 1, close), startTicks } : null;
}

/** When the domain's QEMU process started, or null when that cannot be told (no pid file, stale pid). */
export async function qemuStartTime(root: HostRoot, name: string, bootTimeSec: number, ticks: number): Promise<Date | null> {
  if (name.includes("/")) return null;
  const pid = Number((await readText(root.path(`/run/libvirt/qemu/${name}.pid`)))?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const text = await readText(root.path(`/proc/${pid}/stat`));
  const stat = text === null ? null : parseProcStat(text);
  // A pid file left behind and its pid reused by something else must not date the VM.
  if (!stat || !/^(qemu|kvm)/.test(stat.comm)) return null;
  return new Date((bootTimeSec + stat.startTicks / ticks) * 1000);
}

// --- the probe ---------------------------------------------------------------------------------

const CONCURRENCY = 16;

interface LibvirtDomainFacts { name: string; active: boolean; autostart: boolean; persistent: boolean; xml: string }

async function domainFacts(conn: LibvirtConnection): Promise<LibvirtDomainFacts[]> {
  const doms = await conn.connectListAllDomains();
  const out: (LibvirtDomainFacts | null)[] = new Array(doms.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < doms.length) {
      const i = next++;
      const dom = doms[i]!;
      try {
        const [xml, autostart, persistent, active] = await Promise.all([
          conn.domainGetXMLDesc(dom), conn.domainGetAutostart(dom), conn.domainIsPersistent(dom), conn.domainIsActive(dom),
        ]);
        out[i] = { name: dom.name, active, autostart, persistent, xml };
      } catch (err) {
        if (!isNotFound(err)) throw err; // undefined meanwhile: gone
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, doms.length) }, worker));
  return out.filter((d): d is LibvirtDomainFacts => d !== null).sort((a, b) => a.name.localeCompare(b.name));
}

export async function collectPlacement(ctx: ProbeContext): Promise<ProbeOutput> {
  if (!ctx.libvirt) return { status: "not-applicable", detail: "no libvirt connection", findings: [] };
  const notes: string[] = [];
  const mountText = await readText(ctx.root.path("/proc/self/mountinfo"));
  if (mountText === null) notes.push("no /proc/self/mountinfo: disks not placed");
  const mountInfo = parseMountInfo(mountText ?? "");
  if (mountInfo.errors.length > 0) notes.push(`${mountInfo.errors.length} unreadable line(s) in /proc/self/mountinfo`);
  const mounts = [...topMounts(mountInfo.entries).values()];

  const facts = await domainFacts(ctx.libvirt);
  ctx.signal.throwIfAborted();

  let bootTime: number | null = null;
  let ticks = 100;
  if (facts.some((f) => f.active)) {
    bootTime = parseBootTime((await readText(ctx.root.path("/proc/stat"))) ?? "");
    ticks = await clockTicks(ctx.commands, ctx.signal);
    if (bootTime === null) notes.push("no btime in /proc/stat: VM uptimes unknown");
  }

  const domains: PlacementDomain[] = [];
  for (const f of facts) {
    const meta = parseNightshiftMetadata(f.xml);
    domains.push({
      name: f.name, autostart: f.autostart, persistent: f.persistent,
      disks: parseDomainDisks(f.xml),
      marks: vmMarks(f.name, meta, ctx.settings),
      metadataProblems: meta.problems,
      startedAt: f.active && bootTime !== null ? await qemuStartTime(ctx.root, f.name, bootTime, ticks) : null,
    });
  }
  return {
    status: "ok",
    ...(notes.length > 0 ? { detail: notes.join("; ") } : {}),
    findings: assessPlacement(domains, mounts, ctx.settings, ctx.now()),
  };
}

export const vmPlacementProbe: Probe = {
  name: "vm-placement",
  description: "VM disks on network storage, critical VMs without autostart, HA groups sharing storage, VM uptime",
  defaultEnabled: true,
  collect: collectPlacement,
};
