/**
 * /etc/fstab parsing, faithful to util-linux's libmount (what mount(8) and
 * systemd-fstab-generator use), and formatting of corrected lines.
 *
 * libmount's rules, followed here:
 * - a line whose first non-blank character is '#' is a comment; blank lines are skipped;
 *   a '#' anywhere else is data (fstab has no trailing comments);
 * - fields are separated by runs of spaces and tabs; a trailing '\r' is dropped;
 * - each field decodes \NNN (exactly three octal digits) to that byte: \040 space,
 *   \011 tab, \012 newline, \134 backslash; any other backslash is literal;
 * - source, mount point and type are required; options default to "defaults",
 *   dump and pass to 0; dump and pass must be integers, else the line is refused;
 * - anything after the pass field is ignored (kept here in `raw`).
 * A refused line is skipped by mount -a and by systemd at boot, so it is
 * returned as an error, never thrown.
 */
import type { Fstab, FstabEntry, FstabParseError } from "./fstab-types.js";

/** Filesystem types whose data lives behind the network (systemd's list plus fuse.*). */
const NETWORK_FSTYPES = new Set([
  "nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "ceph", "9p", "afs", "sshfs", "davfs", "ncpfs",
  "lustre", "gfs2", "ocfs2", "pvfs2",
]);

/** Kernel and memory filesystems: nothing on a disk to check. */
const PSEUDO_FSTYPES = new Set([
  "proc", "sysfs", "tmpfs", "ramfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "hugetlbfs", "debugfs",
  "tracefs", "securityfs", "configfs", "fusectl", "pstore", "efivarfs", "bpf", "binfmt_misc", "autofs",
  "rpc_pipefs", "nfsd", "overlay", "selinuxfs", "usbfs", "none",
]);

/** Types whose source names a server: we can tell which host they depend on. */
const COLON_SERVER_FSTYPES = new Set(["nfs", "nfs4", "glusterfs", "ceph", "sshfs", "fuse.sshfs", "fuse.glusterfs"]);
const UNC_SERVER_FSTYPES = new Set(["cifs", "smb3", "smbfs"]);

const TAGS = { UUID: "uuid", LABEL: "label", PARTUUID: "partuuid", PARTLABEL: "partlabel" } as const;
export type SourceTag = keyof typeof TAGS;

interface Token {
  text: string;
  start: number;
  end: number;
}

/** Splits a line into fields on runs of spaces and tabs, with their positions. */
export function tokenizeFstabLine(line: string): Token[] {
  const tokens: Token[] = [];
  const re = /[^ \t]+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) tokens.push({ text: m[0], start: m.index, end: m.index + m[0].length });
  return tokens;
}

/**
 * Decodes libmount's \NNN escapes; the bytes are UTF-8 (so \303\251 is é).
 * Scans the field's UTF-8 bytes: backslash and octal digits are ASCII, so a
 * byte that looks like them is them, and the work is one pass with no
 * allocation per character (a damaged fstab has long fields full of backslashes).
 */
export function unescapeFstabField(field: string): string {
  if (!field.includes("\\")) return field;
  const bytes = Buffer.from(field, "utf8");
  const isOctal = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x37;
  let out = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x5c && isOctal(bytes[i + 1]) && isOctal(bytes[i + 2]) && isOctal(bytes[i + 3])) {
      bytes[out++] = (((bytes[i + 1]! - 0x30) << 6) | ((bytes[i + 2]! - 0x30) << 3) | (bytes[i + 3]! - 0x30)) & 0xff;
      i += 3;
    } else {
      bytes[out++] = bytes[i]!;
    }
  }
  return bytes.toString("utf8", 0, out);
}

/** Encodes a field the way libmount's mangle() does; a leading '#' is escaped too, so the line stays a line. */
export function escapeFstabField(value: string, first = false): string {
  const escaped = value.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  return first && escaped.startsWith("#") ? `\\043${escaped.slice(1)}` : escaped;
}

/** UUID=..., LABEL=..., PARTUUID=..., PARTLABEL=... (names case-sensitive, as libmount; quotes around the value dropped, as libblkid). */
export function parseSourceTag(source: string): { tag: SourceTag; value: string } | null {
  const m = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/s.exec(source);
  if (!m) return null;
  let value = m[2]!;
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
  return { tag: m[1] as SourceTag, value };
}

export function isNetworkFstype(fstype: string, source = ""): boolean {
  const t = fstype.toLowerCase();
  return NETWORK_FSTYPES.has(t) || t.startsWith("fuse.") || (t === "fuse" && source.startsWith("sshfs#"));
}

/**
 * The servers a network source names, as written (IPv6 without its brackets):
 * nfs `server:/export`, `[fd00::1]:/export`; glusterfs `server:/vol` or `server:vol`;
 * ceph `mon1:6789,mon2:6789:/path`; sshfs `user@host:/path`; cifs `//server/share`.
 * Empty for types whose source names no server (9p tags, s3fs buckets, ...).
 */
export function networkServers(source: string, fstype: string): string[] {
  const t = fstype.toLowerCase();
  let s = source;
  if (t === "fuse" && s.startsWith("sshfs#")) s = s.slice("sshfs#".length);
  else if (UNC_SERVER_FSTYPES.has(t)) {
    const m = /^(?:\/\/|\\\\)(\[[^\]]*\]|[^/\\]+)/.exec(s);
    return m ? [stripBrackets(m[1]!)] : [];
  } else if (!COLON_SERVER_FSTYPES.has(t)) return [];
  let hostPart: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) return [];
    return [s.slice(1, close)];
  }
  const pathStart = s.indexOf(":/");
  if (pathStart >= 0) hostPart = s.slice(0, pathStart);
  else if (s.includes(":")) hostPart = s.slice(0, s.indexOf(":"));
  else return [];
  return hostPart.split(",").map((h) => {
    let host = h.includes("@") ? h.slice(h.lastIndexOf("@") + 1) : h;
    if (host.startsWith("[")) host = stripBrackets(host.slice(0, host.indexOf("]") + 1));
    else if (/^[^:]+:\d+$/.test(host)) host = host.slice(0, host.indexOf(":")); // ceph mon:port
    return host;
  }).filter((h) => h.length > 0);
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function classify(source: string, fstype: string, options: string[]): Pick<FstabEntry, "sourceKind" | "network" | "server" | "bind" | "swap"> {
  const bind = options.some((o) => o === "bind" || o === "rbind");
  const network = !bind && isNetworkFstype(fstype, source);
  const swap = fstype === "swap";
  const server = network ? networkServers(source, fstype)[0] ?? null : null;
  let sourceKind: FstabEntry["sourceKind"];
  const tag = parseSourceTag(source);
  if (bind) sourceKind = "bind";
  else if (network) sourceKind = "network";
  else if (tag) sourceKind = TAGS[tag.tag];
  else if (PSEUDO_FSTYPES.has(fstype.toLowerCase()) && !source.startsWith("/dev/")) sourceKind = "pseudo";
  else sourceKind = "path";
  return { sourceKind, network, server, bind, swap };
}

function parseNumber(field: string): number | null {
  // libmount uses strtol and requires the number to end the field.
  return /^[+-]?\d+$/.test(field) ? Number.parseInt(field, 10) : null;
}

/** Parses one non-comment line; `lineNo` is 1-based. */
export function parseFstabLine(raw: string, lineNo: number): FstabEntry | FstabParseError {
  const tokens = tokenizeFstabLine(raw).map((t) => t.text);
  if (tokens.length < 3) {
    return { lineNo, raw, reason: `expected at least 3 fields (source, mount point, type), found ${tokens.length}` };
  }
  const [source, mountPoint, fstype] = tokens.slice(0, 3).map(unescapeFstabField) as [string, string, string];
  const options = tokens[3] === undefined ? [] : unescapeFstabField(tokens[3]).split(",").filter((o) => o !== "");
  const dump = tokens[4] === undefined ? 0 : parseNumber(tokens[4]);
  if (dump === null) return { lineNo, raw, reason: `the dump field (5th) must be a number, found "${tokens[4]}"` };
  const pass = tokens[5] === undefined ? 0 : parseNumber(tokens[5]);
  if (pass === null) return { lineNo, raw, reason: `the pass field (6th) must be a number, found "${tokens[5]}"` };
  return { lineNo, raw, source, mountPoint, fstype, options, dump, pass, ...classify(source, fstype, options) };
}

export function parseFstab(text: string): Fstab {
  const fstab: Fstab = { entries: [], errors: [] };
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => {
    const raw = line.endsWith("\r") ? line.slice(0, -1) : line;
    const content = raw.replace(/^[ \t]+/, "");
    if (content === "" || content.startsWith("#")) return;
    const parsed = parseFstabLine(raw, i + 1);
    if ("reason" in parsed) fstab.errors.push(parsed);
    else fstab.entries.push(parsed);
  });
  return fstab;
}

/** The value of `key=value` in the options (the last one wins, as in mount), `true` for a bare `key`, undefined when absent. */
export function fstabOption(entry: Pick<FstabEntry, "options">, key: string): string | true | undefined {
  let found: string | true | undefined;
  for (const o of entry.options) {
    if (o === key) found = true;
    else if (o.startsWith(`${key}=`)) found = o.slice(key.length + 1);
  }
  return found;
}

export interface FstabLineChange {
  source?: string;
  mountPoint?: string;
  fstype?: string;
  options?: string[];
  dump?: number;
  pass?: number;
}

const FIELD_KEYS = ["source", "mountPoint", "fstype", "options", "dump", "pass"] as const;

/**
 * The entry's line with some fields replaced: what a remedy shows. Fields not
 * changed are copied as written, separators are kept (runs of spaces shrink or
 * grow so the columns after a changed field stay where they were), and a
 * changed field is escaped (a space becomes \040). Passing an array changes
 * the options.
 */
export function formatFstabLine(entry: FstabEntry, change: FstabLineChange | string[] = {}): string {
  const changes: FstabLineChange = Array.isArray(change) ? { options: change } : change;
  const fieldText = (i: number): string => {
    const key = FIELD_KEYS[i]!;
    const value = changes[key] ?? entry[key];
    if (key === "options") return (value as string[]).length ? escapeFstabField((value as string[]).join(",")) : "defaults";
    return typeof value === "number" ? String(value) : escapeFstabField(value as string, i === 0);
  };
  const tokens = tokenizeFstabLine(entry.raw);
  if (tokens.length < 3) return FIELD_KEYS.map((_, i) => fieldText(i)).join(" ");
  // Up to which field the line must go: what it had, or further when a missing field is set.
  let last = Math.min(tokens.length, FIELD_KEYS.length) - 1;
  FIELD_KEYS.forEach((key, i) => {
    if (changes[key] !== undefined) last = Math.max(last, i);
  });
  let out = entry.raw.slice(0, tokens[0]!.start);
  // How far the text has moved right of where it was; runs of spaces absorb it so columns stay aligned.
  let shift = 0;
  for (let i = 0; i <= last; i++) {
    const token = tokens[i];
    const text = changes[FIELD_KEYS[i]!] !== undefined || !token ? fieldText(i) : token.text;
    out += text;
    shift += text.length - (token?.text.length ?? 0);
    if (i < last) {
      const next = tokens[i + 1];
      let separator = token && next ? entry.raw.slice(token.end, next.start) : " ";
      if (shift !== 0 && /^ +$/.test(separator)) {
        const width = Math.max(1, separator.length - shift);
        shift -= separator.length - width;
        separator = " ".repeat(width);
      }
      out += separator;
    }
  }
  // Fields after pass are ignored by mount but were written by someone: keep them.
  const lastToken = tokens[last];
  if (tokens.length > FIELD_KEYS.length && lastToken) out += entry.raw.slice(lastToken.end, tokens[tokens.length - 1]!.end);
  return out;
}

const PLAUSIBLE_FSTYPE = /^(ext[234]|xfs|btrfs|vfat|exfat|ntfs3?|f2fs|jfs|reiserfs|iso9660|udf|swap|auto|none|nfs4?|cifs|smb3|glusterfs|ceph|9p|tmpfs|proc|sysfs|zfs|bcachefs|fuse\.[a-z0-9_]+)$/;

/**
 * For a refused line, the fix when it is clear: an unescaped space in the
 * source or mount point (`/srv/my data ext4 defaults 0 2`) gets \040. Null
 * when the line's intent cannot be told.
 */
export function suggestFstabLineFix(raw: string): string | null {
  const fields = tokenizeFstabLine(raw).map((t) => t.text);
  if (fields.length < 7) return null;
  const [dump, pass] = fields.slice(-2);
  const fstype = fields[fields.length - 4]!;
  if (parseNumber(dump!) === null || parseNumber(pass!) === null || !PLAUSIBLE_FSTYPE.test(fstype)) return null;
  const names = fields.slice(0, -4);
  // The mount point is the first later field starting with '/'; what comes before it is the source.
  const split = names.findIndex((f, i) => i > 0 && f.startsWith("/"));
  if (split < 1) return null;
  const join = (parts: string[]) => parts.join("\\040");
  return [join(names.slice(0, split)), join(names.slice(split)), ...fields.slice(-4)].join(" ");
}
