/**
 * The XML side of external (disk-only) snapshots, kept free of I/O so it can
 * be tested on its own: which disks a disk-only snapshot can take, the
 * snapshot XML to ask for, what a snapshot's XML says about its disks and the
 * files they had before, and pointing a disk of a domain definition back at
 * another file.
 *
 * Pointing a disk back is done on the definition's text, not by re-serialising
 * a parsed tree: only the disk's <source file>, its <driver type> and its
 * <backingStore> (which libvirt probes again at start) change, and every other
 * byte of the operator's definition stays as it was.
 */
import { XMLParser } from "fast-xml-parser";
import { attr, child, parseDomainDisks, xmlEscape, type DomainDisk, type XmlNode } from "../libvirt/domain-xml.js";

/** What a disk-only snapshot does with one disk of the VM. */
export interface DiskOnlyPlan {
  target: string;
  /** "external": an overlay is made; "no": not part of the snapshot (read-only and empty drives). */
  snapshot: "external" | "no";
  source: string | null;
  driverType: string | null;
  /** Set when the disk blocks a disk-only snapshot. */
  refusal: string | null;
}

export function planDiskOnly(disk: DomainDisk): DiskOnlyPlan {
  const base = { target: disk.target, source: disk.source, driverType: disk.driverType };
  const removable = disk.device === "cdrom" || disk.device === "floppy";
  if ((disk.source === null && (removable || disk.type === "file")) || disk.readonly || disk.device === "cdrom") {
    return { ...base, snapshot: "no", refusal: null };
  }
  const no = (refusal: string): DiskOnlyPlan => ({ ...base, snapshot: "external", refusal });
  if (disk.device === "lun") return no("SCSI LUN passthrough (device='lun'): the guest talks to the real device, which an overlay cannot capture");
  if (disk.shareable) return no("shareable disk: an overlay of this VM's view would split storage other VMs write to");
  if (disk.type !== "file" || disk.source === null) {
    return no(`disk of type '${disk.type}'${disk.source ? ` (${disk.source})` : ""}: disk-only snapshots here put a qcow2 overlay ` +
      "file next to the disk's image file; snapshot it on the storage side instead");
  }
  return { ...base, snapshot: "external", refusal: null };
}

/** `<disk>.<snapshot name>.qcow2`, next to the disk's image. */
export function overlayPath(source: string, snapshotName: string): string {
  return `${source}.${snapshotName}.qcow2`;
}

/** Snapshot names become part of file names: nothing that could leave the disk's directory or hide the file. */
export function checkOverlayName(snapshotName: string): string | null {
  if (snapshotName.includes("/")) return "it contains '/'";
  if (snapshotName.startsWith(".")) return "it starts with '.'";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(snapshotName)) return "it contains control characters";
  return null;
}

/** The <domainsnapshot> for an external disk-only snapshot of these disks, overlays named after the snapshot. */
export function diskOnlySnapshotXml(name: string, description: string, disks: DiskOnlyPlan[]): string {
  const e = xmlEscape;
  const lines = disks.map((d) => d.snapshot === "no"
    ? `<disk name='${e(d.target)}' snapshot='no'/>`
    : `<disk name='${e(d.target)}' snapshot='external' type='file'><driver type='qcow2'/>` +
      `<source file='${e(overlayPath(d.source ?? "", name))}'/></disk>`);
  return `<domainsnapshot><name>${e(name)}</name><description>${e(description)}</description>` +
    `<memory snapshot='no'/><disks>${lines.join("")}</disks></domainsnapshot>`;
}

export interface SnapshotDisk {
  /** Target ("vda") or, in older snapshots, a source path. */
  name: string;
  snapshot: string;
  /** The overlay of an external disk. */
  source: string | null;
}

/** An external snapshot's disk: the overlay made for it and the file the disk used before. */
export interface ExternalDisk {
  target: string;
  overlay: string;
  original: string;
  originalFormat: string | null;
}

export interface SnapshotInfo {
  /** <description>, null when absent (libvirt leaves out an empty one). */
  description: string | null;
  /** snapshot='internal' | 'external' | 'no' of <memory>, null when absent. */
  memory: string | null;
  disks: SnapshotDisk[];
  /** The domain as it ran when the snapshot was taken (libvirt's <domain> copy), as a <domain> document. */
  domainXml: string | null;
  /** Its persistent definition then (<inactiveDomain>, libvirt 9.0+ for a running VM), as a <domain> document. */
  inactiveDomainXml: string | null;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  isArray: (name) => name === "disk",
  parseAttributeValue: false,
  parseTagValue: false,
  // The embedded <domain> copies are cut out as text below; the parser only reads <memory> and <disks>.
  stopNodes: ["domainsnapshot.domain", "domainsnapshot.inactiveDomain"],
});

export function parseSnapshotXml(xml: string): SnapshotInfo {
  const doc = parser.parse(xml) as XmlNode;
  const root = child(doc, "domainsnapshot");
  const disks = ((child(root, "disks")?.disk as unknown[] | undefined) ?? []).map((d) => ({
    name: attr(d, "name") ?? "",
    snapshot: attr(d, "snapshot") ?? "",
    source: attr(child(d, "source"), "file") ?? attr(child(d, "source"), "dev"),
  }));
  const domain = /<domain[\s>][\s\S]*?<\/domain>/.exec(xml)?.[0] ?? null;
  const inactive = /<inactiveDomain([\s>][\s\S]*?)<\/inactiveDomain>/.exec(xml);
  const description = root?.description;
  return {
    description: typeof description === "string" ? description : null,
    memory: attr(child(root, "memory"), "snapshot"),
    disks,
    domainXml: domain,
    inactiveDomainXml: inactive ? `<domain${inactive[1]}</domain>` : null,
  };
}

/** True for a snapshot with an external disk or memory file: libvirt 9.0 cannot revert or delete those itself. */
export function isExternal(info: SnapshotInfo): boolean {
  return info.memory === "external" || info.disks.some((d) => d.snapshot === "external");
}

/**
 * The external disks of a snapshot with the file each used before it, from the
 * persistent definition then (or the running one when libvirt did not keep
 * that). Throws when the snapshot does not say.
 */
export function externalDisks(info: SnapshotInfo): ExternalDisk[] {
  const before = info.inactiveDomainXml ?? info.domainXml;
  if (!before) throw new Error("the snapshot's XML has no copy of the domain, so the files the disks used before are unknown");
  const disks = parseDomainDisks(before);
  return info.disks.filter((d) => d.snapshot === "external").map((d) => {
    const disk = disks.find((x) => x.target === d.name || x.source === d.name);
    if (!disk || disk.source === null) throw new Error(`the snapshot's copy of the domain has no disk ${d.name} with a source`);
    if (disk.type !== "file") throw new Error(`disk ${d.name} was of type '${disk.type}' before the snapshot; only file disks are handled`);
    if (!d.source) throw new Error(`the snapshot names no overlay file for disk ${d.name}`);
    if (d.source === disk.source) throw new Error(`disk ${d.name}: the overlay and the original are the same file (${d.source})`);
    return { target: disk.target, overlay: d.source, original: disk.source, originalFormat: disk.driverType };
  });
}

function unescapeXml(value: string): string {
  return value.replace(/&(lt|gt|amp|apos|quot|#\d+|#x[0-9a-f]+);/gi, (m, ent: string) => {
    switch (ent.toLowerCase()) {
      case "lt": return "<";
      case "gt": return ">";
      case "amp": return "&";
      case "apos": return "'";
      case "quot": return '"';
      default: return String.fromCodePoint(ent[1]?.toLowerCase() === "x" ? Number.parseInt(ent.slice(2), 16) : Number(ent.slice(1)));
    }
  });
}

/** Removes a disk's <backingStore> element (nested ones included) from the disk's text. */
function withoutBackingStore(disk: string): string {
  const start = disk.search(/[ \t]*<backingStore\b/);
  if (start < 0) return disk;
  const open = /<backingStore\b[^>]*?(\/?)>/.exec(disk.slice(start));
  if (!open) return disk;
  let end: number;
  if (open[1] === "/") {
    end = start + open.index + open[0].length;
  } else {
    const close = disk.lastIndexOf("</backingStore>");
    if (close < start) return disk;
    end = close + "</backingStore>".length;
  }
  if (disk[end] === "\n") end++;
  return disk.slice(0, start) + disk.slice(end);
}

/**
 * The domain definition with disk `target` pointing at `file` (format
 * `format`), without the backing chain libvirt recorded for its old file.
 * Throws when the definition has no such file disk.
 */
export function repointDisk(domainXml: string, target: string, file: string, format: string | null): string {
  let found = false;
  const result = domainXml.replace(/<disk\b[^>]*>[\s\S]*?<\/disk>/g, (disk) => {
    const dev = /<target\b[^>]*?\bdev=(['"])(.*?)\1/.exec(disk)?.[2];
    if (dev === undefined || unescapeXml(dev) !== target || found) return disk;
    found = true;
    let out = withoutBackingStore(disk);
    const source = /(<source\b[^>]*?\bfile=)(['"])(.*?)\2/.exec(out);
    if (!source) throw new Error(`disk ${target} has no <source file=...> to point elsewhere`);
    out = out.slice(0, source.index) + `${source[1]}'${xmlEscape(file)}'` + out.slice(source.index + source[0].length);
    if (format !== null) {
      const driver = /<driver\b[^>]*?>/.exec(out);
      if (!driver) {
        out = out.replace(/^<disk\b[^>]*>/, (open) => `${open}\n      <driver name='qemu' type='${xmlEscape(format)}'/>`);
      } else if (/\btype=(['"]).*?\1/.test(driver[0])) {
        const tag = driver[0].replace(/\btype=(['"]).*?\1/, `type='${xmlEscape(format)}'`);
        out = out.slice(0, driver.index) + tag + out.slice(driver.index + driver[0].length);
      } else {
        const tag = driver[0].replace(/\s*(\/?)>$/, ` type='${xmlEscape(format)}'$1>`);
        out = out.slice(0, driver.index) + tag + out.slice(driver.index + driver[0].length);
      }
    }
    return out;
  });
  if (!found) throw new Error(`the domain definition has no disk ${target}`);
  return result;
}

/** Source file of each disk by target, from a domain definition. */
export function diskSourcesByTarget(domainXml: string): Map<string, string | null> {
  return new Map(parseDomainDisks(domainXml).map((d) => [d.target, d.source]));
}
