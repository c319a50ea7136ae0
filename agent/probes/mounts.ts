/**
 * Probe "mounts": every network mount (from /proc/self/mountinfo) and every fstab
 * mount point (not swap, not pseudo file systems), each reported as a MountFact
 * (up, hung, missing, empty), with findings for:
 *
 *   NS_MOUNT_NOT_MOUNTED     fstab says it is mounted at boot (no noauto) but nothing is
 *                            mounted there; or a neverEmptyMounts path with nothing mounted
 *   NS_MOUNT_HUNG            statfs/readdir did not answer within settings.mountTimeout,
 *                            or an earlier probe of it is still blocked in the kernel
 *   NS_MOUNT_ERROR           it answered with an error (dead FUSE daemon, stale NFS handle, EIO)
 *   NS_MOUNT_EMPTY           mounted but empty, and listed in settings.neverEmptyMounts
 *   NS_MOUNT_OPTIONS_DIFFER  options in effect differ from the fstab line
 *
 * Options compared (only what the kernel shows in mountinfo, and only what the fstab
 * line asks for, explicitly or through user/users/owner/group):
 *   - rw/ro: always (fstab's default is rw). For a bind entry the per-mount flag; for
 *     any other the super-block's, so a read-only bind the agent's own systemd sandbox
 *     lays over the host (ProtectSystem=) is not mistaken for the host's state, while a
 *     file system the kernel made read-only after errors is caught. Not for file
 *     systems that only mount read-only (iso9660, udf, squashfs, erofs, cramfs).
 *   - nosuid/suid, nodev/dev, noexec/exec, noatime/relatime/strictatime, nodiratime.
 *   - hard/soft for nfs and nfs4 (how a dead server is felt: a hang or I/O errors).
 * Not compared: options that live only in user space and never reach the kernel
 * (defaults, auto/noauto, nofail, _netdev, user, x-systemd.*, comment=), and file
 * system specific options, whose spelling differs between fstab and the kernel
 * (vers=4 vs vers=4.2, addr= added, errors=, credentials=).
 *
 * Responsiveness: asked through the context's commands (on this host mount-responsiveness.ts:
 * child processes, never fs calls on a mount point in the agent; in a host tree the answers
 * recorded in commands/mount-responsiveness, see recorded-commands.ts). An automount point
 * that has not been triggered (autofs on top) is not probed: probing would trigger it.
 */
import path from "node:path";
import { readFile } from "node:fs/promises";
import { clipFinding, type Severity } from "../../shared/protocol/findings.js";
import { MOUNTS_FACT, type MountFact } from "../../shared/facts/mounts.js";
import type { FstabEntry } from "./fstab-types.js";
import { isNetworkFstype as isNetworkFstabType, networkServers, parseFstab } from "./fstab-parse.js";
import type { MountAnswer, MountChecker } from "./mount-responsiveness.js";
import { optionMap, parseMountInfo, topMounts, type MountInfoEntry } from "./mountinfo.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";
import { readFstab } from "./fstab-read.js";
import { FINDINGS_PER_CODE, capPerCode, worstSeverity } from "./finding-cap.js";

const READ_ONLY_FSTYPES = new Set(["iso9660", "udf", "squashfs", "erofs", "cramfs"]);

/**
 * A mountinfo type backed by a server or a user-space daemon, i.e. able to hang: the
 * fstab parser's network types, plus plain "fuse", which is what libfuse 2 daemons
 * that set no subtype (bindfs, for one) show in mountinfo.
 */
export function isNetworkFstype(fstype: string, source = ""): boolean {
  return isNetworkFstabType(fstype, source) || fstype === "fuse";
}

/** "/mnt/data/" and "/mnt//data" name the same mount point as mountinfo's "/mnt/data". */
export function normalizeMountPoint(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

// --- options ---------------------------------------------------------------------

export interface OptionDifference {
  option: string;
  fstab: string;
  mounted: string;
  severity: Severity;
}

interface Expected {
  access: "rw" | "ro";
  nosuid: boolean | null;
  nodev: boolean | null;
  noexec: boolean | null;
  atime: "noatime" | "relatime" | "strictatime" | null;
  nodiratime: boolean | null;
  nfsRecovery: "hard" | "soft" | null;
}

function expectedOptions(options: readonly string[]): Expected {
  const e: Expected = { access: "rw", nosuid: null, nodev: null, noexec: null, atime: null, nodiratime: null, nfsRecovery: null };
  // In order: a later option overrides an earlier one (mount(8)), e.g. "user,exec".
  for (const raw of options) {
    const opt = raw.split("=")[0]!;
    switch (opt) {
      case "ro": case "rw": e.access = opt; break;
      case "suid": case "nosuid": e.nosuid = opt === "nosuid"; break;
      case "dev": case "nodev": e.nodev = opt === "nodev"; break;
      case "exec": case "noexec": e.noexec = opt === "noexec"; break;
      case "user": case "users": e.nosuid = true; e.nodev = true; e.noexec = true; break;
      case "owner": case "group": e.nosuid = true; e.nodev = true; break;
      case "noatime": case "relatime": case "strictatime": e.atime = opt; break;
      case "nodiratime": case "diratime": e.nodiratime = opt === "nodiratime"; break;
      case "hard": e.nfsRecovery = "hard"; break;
      case "soft": case "softerr": e.nfsRecovery = "soft"; break;
    }
  }
  return e;
}

/** The options of `mounted` that differ from what fstab `entry` asks for (see the header). */
export function compareOptions(entry: Pick<FstabEntry, "options" | "bind">, mounted: MountInfoEntry): OptionDifference[] {
  const want = expectedOptions(entry.options);
  const per = new Set(mounted.mountOptions);
  const superOpts = optionMap(mounted.superOptions);
  const diffs: OptionDifference[] = [];

  if (!READ_ONLY_FSTYPES.has(mounted.fstype)) {
    const sbAccess = superOpts.has("ro") ? "ro" : superOpts.has("rw") ? "rw" : null;
    const mntAccess = per.has("ro") ? "ro" : "rw";
    const access = entry.bind || sbAccess === null ? mntAccess : sbAccess;
    if (access !== want.access) {
      diffs.push({ option: "rw/ro", fstab: want.access, mounted: access, severity: want.access === "rw" ? "critical" : "warning" });
    }
  }
  const flag = (name: "nosuid" | "nodev" | "noexec", positive: string) => {
    const wanted = want[name];
    if (wanted === null || wanted === per.has(name)) return;
    diffs.push({ option: name, fstab: wanted ? name : positive, mounted: per.has(name) ? name : positive, severity: "info" });
  };
  flag("nosuid", "suid");
  flag("nodev", "dev");
  flag("noexec", "exec");
  if (want.atime !== null) {
    const atime = per.has("noatime") ? "noatime" : per.has("relatime") ? "relatime" : "strictatime";
    if (atime !== want.atime) diffs.push({ option: "atime", fstab: want.atime, mounted: atime, severity: "info" });
  }
  // noatime implies nodiratime without the kernel listing it.
  if (want.nodiratime !== null && want.atime !== "noatime") {
    const has = per.has("nodiratime") || per.has("noatime");
    if (has !== want.nodiratime) {
      diffs.push({ option: "nodiratime", fstab: want.nodiratime ? "nodiratime" : "diratime", mounted: has ? "nodiratime" : "diratime", severity: "info" });
    }
  }
  if (want.nfsRecovery !== null && (mounted.fstype === "nfs" || mounted.fstype === "nfs4")) {
    // Kernels before 5.x did not print "hard"; no "soft"/"softerr" means hard.
    const actual = superOpts.has("soft") || superOpts.has("softerr") ? "soft" : "hard";
    if (actual !== want.nfsRecovery) diffs.push({ option: "hard/soft", fstab: want.nfsRecovery, mounted: actual, severity: "warning" });
  }
  return diffs;
}

// --- evaluation (pure) ------------------------------------------------------------

export interface MountsInput {
  fstab: readonly FstabEntry[];
  mountinfo: readonly MountInfoEntry[];
  neverEmptyMounts: readonly string[];
}

export interface Target {
  mountPoint: string;
  entry: FstabEntry | null;
  mounted: MountInfoEntry | null;
  neverEmpty: boolean;
}

/** Which mount points the probe looks at, and which of them to ask whether they answer. */
export function selectTargets(input: MountsInput): { targets: Target[]; toCheck: Target[] } {
  const top = topMounts(input.mountinfo);
  const neverEmpty = new Set(input.neverEmptyMounts.map(normalizeMountPoint));
  const targets = new Map<string, Target>();
  for (const entry of input.fstab) {
    // systemd makes no mount unit of a relative mount point ("none", a damaged line): nothing is mounted there at boot.
    if (entry.swap || entry.sourceKind === "pseudo" || !entry.mountPoint.startsWith("/")) continue;
    const mountPoint = normalizeMountPoint(entry.mountPoint);
    if (targets.has(mountPoint)) continue; // a duplicate line: the fstab probe's business
    const mounted = top.get(mountPoint) ?? null;
    const noauto = entry.options.includes("noauto");
    if (!mounted && noauto && !neverEmpty.has(mountPoint)) continue; // not meant to be mounted now
    targets.set(mountPoint, { mountPoint, entry, mounted, neverEmpty: neverEmpty.has(mountPoint) });
  }
  for (const mounted of top.values()) {
    if (targets.has(mounted.mountPoint) || !isNetworkFstype(mounted.fstype, mounted.source)) continue;
    targets.set(mounted.mountPoint, { mountPoint: mounted.mountPoint, entry: null, mounted, neverEmpty: neverEmpty.has(mounted.mountPoint) });
  }
  for (const mountPoint of neverEmpty) {
    if (!targets.has(mountPoint)) targets.set(mountPoint, { mountPoint, entry: null, mounted: top.get(mountPoint) ?? null, neverEmpty: true });
  }
  const sorted = [...targets.values()].sort((a, b) => (a.mountPoint < b.mountPoint ? -1 : a.mountPoint > b.mountPoint ? 1 : 0));
  // An automount point not yet triggered has autofs on top; asking it would mount it.
  return { targets: sorted, toCheck: sorted.filter((t) => t.mounted && t.mounted.fstype !== "autofs") };
}

/** A path as a shell word: as is when plain, else in single quotes ("/srv/vm images" -> '/srv/vm images'). */
export function shellWord(p: string): string {
  return /^[A-Za-z0-9_/.,:@%+=-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

function describe(t: Target): string {
  const m = t.mounted;
  return m ? `${t.mountPoint} (${m.fstype} from ${m.source || "none"})` : t.mountPoint;
}

function hungRemedy(t: Target): string {
  const m = t.mounted!;
  const mp = shellWord(t.mountPoint);
  const server = networkServers(m.source, m.fstype)[0] ?? t.entry?.server ?? null;
  const keep = "Meanwhile every process that touches it blocks: start no maintenance on VMs whose disks or images are there.";
  if (m.fstype === "fuse" || m.fstype.startsWith("fuse.")) {
    return `The FUSE daemon serving ${mp} does not answer (stopped, deadlocked, or its own backend is gone): ` +
      `find it (\`ps -eo pid,stat,args | grep -F -- ${shellWord(m.source || m.fstype)}\`), resume or restart it. ` +
      `To detach the mount: \`fusermount -u -z ${mp}\` (or \`umount -l ${mp}\`). ${keep}`;
  }
  if (isNetworkFstype(m.fstype, m.source)) {
    const s = server ?? "the server";
    const checks = m.fstype.startsWith("nfs") ? `\`ping ${s}\`, \`rpcinfo -t ${s} nfs\`, \`showmount -e ${s}\`` : `\`ping ${s}\`, the share and its credentials`;
    return `Check ${s} and the network path to it (${checks}). ${keep} ` +
      `If it will not come back: \`umount -f ${mp}\` (aborts pending requests), then \`umount -l ${mp}\` (detaches it). ` +
      "Give the fstab line nofail and x-systemd.mount-timeout= so a reboot does not wait on it.";
  }
  return `The device behind ${mp} does not answer: look for I/O errors in \`dmesg\` and check the disk, controller or multipath state. ${keep} ` +
    `\`umount -l ${mp}\` detaches it once nothing needs it.`;
}

function errorRemedy(t: Target, error: string): string {
  const mp = shellWord(t.mountPoint);
  if (/not connected/i.test(error)) return `Its FUSE daemon or connection is gone: \`umount -l ${mp}\` (FUSE: \`fusermount -u -z ${mp}\`), then \`mount ${mp}\`.`;
  if (/stale/i.test(error)) return `The server no longer knows this export or handle (export changed, server restored): \`umount -l ${mp}\`, then \`mount ${mp}\`.`;
  return `Look for the cause in \`dmesg\` and \`journalctl -k\`; then \`umount -l ${mp}\` and \`mount ${mp}\`.`;
}

const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** Facts and findings from the selected targets and the answers of the checker. */
export function evaluateMounts(targets: readonly Target[], answers: ReadonlyMap<string, MountAnswer>, timeoutMs: number): { mounts: MountFact[]; findings: ProbeFinding[] } {
  const mounts: MountFact[] = [];
  const findings: ProbeFinding[] = [];
  for (const t of targets) {
    const { entry, mounted, mountPoint } = t;
    const network = (entry?.network ?? false) || (mounted ? isNetworkFstype(mounted.fstype, mounted.source) : false);
    const fact: MountFact = {
      mountPoint, fstype: mounted?.fstype ?? entry?.fstype ?? "unknown", source: mounted?.source ?? entry?.source ?? "",
      state: "up", inFstab: entry !== null, network,
    };
    mounts.push(fact);

    if (!mounted) {
      fact.state = "missing";
      if (entry) {
        const nofail = entry.options.includes("nofail");
        findings.push({
          code: "NS_MOUNT_NOT_MOUNTED", severity: nofail ? "warning" : "critical", subject: mountPoint,
          message: `fstab line ${entry.lineNo} mounts ${entry.source} (${entry.fstype}) on ${mountPoint}, but nothing is mounted there` +
            (nofail ? "." : "; the entry has no nofail, so the next boot waits for it and may stop in emergency mode."),
          remedy: `Run \`mount ${shellWord(mountPoint)}\` and read its error (also \`journalctl -b -u $(systemd-escape -p --suffix=mount ${shellWord(mountPoint)})\`). ` +
            "If it is not meant to be mounted at boot, add noauto to the line; if it is optional, add nofail.",
        });
      } else {
        findings.push({
          code: "NS_MOUNT_NOT_MOUNTED", severity: "warning", subject: mountPoint,
          message: `${mountPoint} is listed in neverEmptyMounts, but nothing is mounted there and fstab has no line for it.`,
          remedy: `Mount what belongs there (and add it to fstab so it comes back after a reboot), or remove ${mountPoint} from neverEmptyMounts.`,
        });
      }
      continue;
    }

    const answer = answers.get(mountPoint);
    if (answer?.state === "hung") {
      fact.state = "hung";
      findings.push({
        code: "NS_MOUNT_HUNG", severity: "critical", subject: mountPoint,
        message: `${describe(t)} does not answer: ${answer.detail}` + (answer.reason === "timeout" ? "." : ` (timeout ${timeoutMs} ms).`),
        remedy: hungRemedy(t),
      });
    } else if (answer?.state === "error") {
      // MountFact has no "error" state: a mount that fails statfs serves nothing, like a hung one.
      fact.state = "hung";
      findings.push({
        code: "NS_MOUNT_ERROR", severity: "critical", subject: mountPoint,
        message: `${describe(t)} answers with an error: ${answer.error}.`,
        remedy: errorRemedy(t, answer.error),
      });
    } else if (answer?.state === "up" && answer.empty === true && t.neverEmpty) {
      fact.state = "empty";
      findings.push({
        code: "NS_MOUNT_EMPTY", severity: "critical", subject: mountPoint,
        message: `${describe(t)} is mounted but empty, and it is listed in neverEmptyMounts.`,
        remedy: `Check that the right device or export is mounted (\`findmnt ${shellWord(mountPoint)}\`): an empty export on the server, ` +
          "a wrong or freshly formatted device, or a mount that failed under an automount. Start no VM or maintenance that needs its contents until it holds them.",
      });
    }

    // An automount not yet triggered: autofs's options say nothing about the fstab line.
    if (entry && !(mounted.fstype === "autofs" && entry.fstype !== "autofs")) {
      const diffs = compareOptions(entry, mounted);
      if (diffs.length > 0) {
        const severity = diffs.map((d) => d.severity).sort((a, b) => RANK[a] - RANK[b])[0]!;
        const wentRo = diffs.some((d) => d.option === "rw/ro" && d.mounted === "ro");
        findings.push({
          code: "NS_MOUNT_OPTIONS_DIFFER", severity, subject: mountPoint,
          message: `${mountPoint} runs with options that differ from fstab line ${entry.lineNo}: ` +
            diffs.map((d) => `${d.option}: fstab ${d.fstab}, mounted ${d.mounted}`).join("; ") + ".",
          remedy: (wentRo
            ? `It went read-only, most often after I/O or file system errors (errors=remount-ro): check \`dmesg\`, repair the cause (fsck once unmounted), then \`mount -o remount,rw ${shellWord(mountPoint)}\`. `
            : `Apply fstab's options with \`umount ${shellWord(mountPoint)} && mount ${shellWord(mountPoint)}\` (some, e.g. ro/rw and atime, also by \`mount -o remount,<options> ${shellWord(mountPoint)}\`). `) +
            "If the running options are the intended ones, correct the fstab line instead, or the next boot changes them.",
        });
      }
    }
  }
  return { mounts, findings };
}

/** The subject of the summary of a code's findings beyond the cap. */
export const MORE_MOUNT_POINTS_SUBJECT = "more mount points";

/** At most FINDINGS_PER_CODE per code; the rest of a code in one finding naming the mount points. */
export function capMountFindings(findings: readonly ProbeFinding[], cap = FINDINGS_PER_CODE): ProbeFinding[] {
  return capPerCode(findings.map((finding) => ({ finding })), (all, rest) => {
    const first = rest[0]!.finding;
    let points = rest.map((r) => r.finding.subject).join(", ");
    if (points.length > 900) points = `${points.slice(0, 900).replace(/, [^,]*$/, "")}, …`;
    return clipFinding({
      code: first.code, severity: worstSeverity(rest.map((r) => r.finding)), subject: MORE_MOUNT_POINTS_SUBJECT,
      message: `${all.length} mount points have this finding; the first ${cap} are listed one by one, the other ${rest.length} only here ` +
        `(${points}). ${first.subject}: ${first.message}`,
      remedy: `as for the mount points listed one by one; for ${first.subject}: ${first.remedy}`,
    });
  }, cap);
}

// --- the probe ------------------------------------------------------------------------

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** `checker`: one of its own instead of the context's commands (tests: stand-in commands, children they count). */
export function createMountsProbe(checker?: MountChecker): Probe<MountFact[]> {
  return {
    name: "mounts",
    description: "network and fstab mounts: not mounted, hung, empty, options differing from fstab",
    defaultEnabled: true,
    fact: MOUNTS_FACT,
    async collect(ctx: ProbeContext): Promise<ProbeOutput<MountFact[]>> {
      const mountinfoText = await readOptional(ctx.root.path("/proc/self/mountinfo"));
      if (mountinfoText === null) return { status: "not-applicable", detail: "no /proc/self/mountinfo", findings: [], fact: [] };
      const mountinfo = parseMountInfo(mountinfoText);
      // Unparsable fstab lines, and a file too large to read whole, are the fstab probe's findings; here they are just not mount points.
      const fstabText = await readFstab(ctx.root.fstab);
      const fstab = fstabText === null ? [] : parseFstab(fstabText.text).entries;

      const { targets, toCheck } = selectTargets({ fstab, mountinfo: mountinfo.entries, neverEmptyMounts: ctx.settings.neverEmptyMounts });
      if (targets.length === 0) {
        return { status: "not-applicable", detail: "no network mounts and no fstab mount points", findings: [], fact: [] };
      }
      const timeoutMs = ctx.settings.mountTimeout;
      const requests = toCheck.map((t) => ({ mountPoint: t.mountPoint, wantEmpty: t.neverEmpty }));
      const answers = checker
        ? await checker.check(requests, { timeoutMs, signal: ctx.signal }, ctx.log)
        : await ctx.commands.checkMounts(requests, { timeoutMs, signal: ctx.signal }, ctx.log);
      const broken = [...answers.values()].find((a) => a.state === "unchecked" && a.reason.startsWith("could not run"));
      if (broken?.state === "unchecked") throw new Error(broken.reason);

      const { mounts, findings } = evaluateMounts(targets, answers, timeoutMs);
      const notes = [`${mounts.length} mount points, ${toCheck.length} probed`];
      const unchecked = [...answers.values()].filter((a) => a.state === "unchecked").length;
      if (unchecked > 0) notes.push(`${unchecked} not probed (aborted)`);
      if (mountinfo.errors.length > 0) notes.push(`${mountinfo.errors.length} unreadable mountinfo lines`);
      return { status: "ok", detail: notes.join(", "), findings: capMountFindings(findings, ctx.settings.findingsPerCode), fact: mounts };
    },
  };
}

export const mountsProbe = createMountsProbe();
