/**
 * /proc/<pid>/mountinfo, parsed (proc(5)). One line per mount:
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)   (4)   (5)      (6)       (7)   (8) (9)    (10)        (11)
 *
 * (1) mount id, (2) parent id, (3) major:minor, (4) root inside the file system,
 * (5) mount point, (6) per-mount options, (7) zero or more optional fields
 * (shared:N, master:N, propagate_from:N, unbindable) ended by (8) a lone "-",
 * (9) file system type, (10) source ("none" or even empty), (11) super-block options.
 *
 * The kernel escapes space, tab, newline and backslash in paths, the type and the
 * source as \040 \011 \012 \134; super options escape commas in values (\054), so
 * they are split on commas before decoding. Fields are separated by exactly one
 * space: an empty source shows up as two spaces in a row and is kept as "".
 *
 * Pure: the probe reads the file (through HostRoot) and hands the text here.
 */

export interface OptionalField {
  tag: string;
  value: string | null;
}

export interface MountInfoEntry {
  lineNo: number;
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** The directory of the file system that is mounted here ("/" unless a bind of a subtree). */
  root: string;
  mountPoint: string;
  /** Per-mount options (field 6): rw/ro, nosuid, nodev, noexec, relatime ... */
  mountOptions: string[];
  optionalFields: OptionalField[];
  fstype: string;
  source: string;
  /** Super-block options (field 11): rw/ro of the file system itself, and its own options. */
  superOptions: string[];
}

export interface MountInfoError {
  lineNo: number;
  raw: string;
  reason: string;
}

export interface MountInfo {
  entries: MountInfoEntry[];
  errors: MountInfoError[];
}

/** Decodes the kernel's \ooo octal escapes. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function splitOptions(field: string): string[] {
  return field === "" ? [] : field.split(",").map(unescapeMountField);
}

const INT_RE = /^\d+$/;

function parseLine(line: string, lineNo: number): MountInfoEntry | string {
  const fields = line.split(" ");
  const sep = fields.indexOf("-", 6);
  if (fields.length < 10) return "fewer than 10 fields";
  if (sep < 0) return 'no " - " separator after the optional fields';
  if (fields.length < sep + 3) return "missing file system type or source after the separator";
  const [id, parent, devno, root, mountPoint, mountOptions] = fields as [string, string, string, string, string, string];
  if (!INT_RE.test(id) || !INT_RE.test(parent)) return "mount id or parent id is not a number";
  const dev = /^(\d+):(\d+)$/.exec(devno);
  if (!dev) return `device "${devno}" is not major:minor`;
  // The root is a path, except for pseudo file systems (nsfs: "net:[4026531840]").
  if (root === "") return "empty root";
  if (!mountPoint.startsWith("/")) return `mount point "${mountPoint}" is not absolute`;
  const optionalFields: OptionalField[] = fields.slice(6, sep).filter((f) => f !== "").map((f) => {
    const colon = f.indexOf(":");
    return colon < 0 ? { tag: f, value: null } : { tag: f.slice(0, colon), value: f.slice(colon + 1) };
  });
  const fstype = unescapeMountField(fields[sep + 1]!);
  if (fstype === "") return "empty file system type";
  return {
    lineNo,
    mountId: Number(id),
    parentId: Number(parent),
    major: Number(dev[1]),
    minor: Number(dev[2]),
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    mountOptions: splitOptions(mountOptions),
    optionalFields,
    fstype,
    source: unescapeMountField(fields[sep + 2]!),
    // Super options never hold a raw space; joining keeps a malformed tail instead of losing it.
    superOptions: splitOptions(fields.slice(sep + 3).join(" ")),
  };
}

/** Parses the whole file; a malformed line is reported in `errors`, never thrown. */
export function parseMountInfo(text: string): MountInfo {
  const out: MountInfo = { entries: [], errors: [] };
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    if (raw.trim() === "") return;
    const parsed = parseLine(raw, i + 1);
    if (typeof parsed === "string") out.errors.push({ lineNo: i + 1, raw, reason: parsed });
    else out.entries.push(parsed);
  });
  return out;
}

/**
 * The mount in effect at each mount point: when several are stacked on one point,
 * the one mounted last (mountinfo lists mounts in mount order, and an over-mount's
 * parent is the mount it covers).
 */
export function topMounts(entries: readonly MountInfoEntry[]): Map<string, MountInfoEntry> {
  const byPoint = new Map<string, MountInfoEntry[]>();
  for (const e of entries) {
    const list = byPoint.get(e.mountPoint);
    if (list) list.push(e);
    else byPoint.set(e.mountPoint, [e]);
  }
  const top = new Map<string, MountInfoEntry>();
  for (const [point, list] of byPoint) {
    // Covered: another mount at the same point has it as parent. Of the uncovered, the last.
    const covered = new Set(list.map((e) => e.parentId));
    const uncovered = list.filter((e) => !covered.has(e.mountId));
    const candidates = uncovered.length > 0 ? uncovered : list;
    top.set(point, candidates[candidates.length - 1]!);
  }
  return top;
}

/** "name=value" options as a map (a flag maps to null); the last occurrence wins. */
export function optionMap(options: readonly string[]): Map<string, string | null> {
  const map = new Map<string, string | null>();
  for (const opt of options) {
    const eq = opt.indexOf("=");
    if (eq < 0) map.set(opt, null);
    else map.set(opt.slice(0, eq), opt.slice(eq + 1));
  }
  return map;
}
