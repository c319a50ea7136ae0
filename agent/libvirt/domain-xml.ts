/**
 * Reads what the agent needs out of a domain's XML description: disks with
 * their sources and formats. Parsing is done by fast-xml-parser; this file
 * only knows libvirt's domain schema.
 */
import { XMLParser } from "fast-xml-parser";

export interface DomainDisk {
  /** Guest device name: vda, sda, hdc. */
  target: string;
  bus: string | null;
  /** disk, cdrom, floppy, lun */
  device: string;
  /** file, block, network, volume, dir, nvme */
  type: string;
  /** File path, block device, "pool/volume", or "protocol://host/name" for network disks. */
  source: string | null;
  /** Image format from <driver type=...>: qcow2, raw, ... */
  driverType: string | null;
  readonly: boolean;
  shareable: boolean;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  // Elements that may repeat are always arrays, so one disk and many read the same way.
  isArray: (name) => ["disk", "host"].includes(name),
  parseAttributeValue: false,
  parseTagValue: false,
});

export type XmlNode = Record<string, unknown>;

/** Text or an attribute value made safe to put into XML (both quote styles). */
export function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);
}

/** An attribute of a parsed element (parsed with attributeNamePrefix "@"), or null. */
export function attr(node: unknown, name: string): string | null {
  if (!node || typeof node !== "object") return null;
  const value = (node as XmlNode)[`@${name}`];
  return typeof value === "string" ? value : null;
}

/** A child element; an empty element (`<readonly/>`) reads as {}. */
export function child(node: unknown, name: string): XmlNode | undefined {
  if (!node || typeof node !== "object") return undefined;
  const value = (node as XmlNode)[name];
  return value && typeof value === "object" ? (value as XmlNode) : value === "" ? {} : undefined;
}

function diskSource(type: string, source: XmlNode | undefined): string | null {
  if (!source) return null;
  switch (type) {
    case "file":
      return attr(source, "file");
    case "block":
      return attr(source, "dev");
    case "dir":
      return attr(source, "dir");
    case "volume": {
      const pool = attr(source, "pool");
      const volume = attr(source, "volume");
      return pool && volume ? `${pool}/${volume}` : null;
    }
    case "network": {
      const protocol = attr(source, "protocol") ?? "network";
      const hosts = (source.host as unknown[] | undefined) ?? [];
      const host = hosts.length > 0 ? attr(hosts[0], "name") : null;
      const name = attr(source, "name") ?? "";
      return host ? `${protocol}://${host}/${name}` : `${protocol}:${name}`;
    }
    default:
      return attr(source, "file") ?? attr(source, "dev");
  }
}

export function parseDomainDisks(xml: string): DomainDisk[] {
  const doc = parser.parse(xml) as XmlNode;
  const devices = child(child(doc, "domain"), "devices");
  const disks = (devices?.disk as unknown[] | undefined) ?? [];
  return disks.map((disk) => {
    const type = attr(disk, "type") ?? "file";
    return {
      target: attr(child(disk, "target"), "dev") ?? "",
      bus: attr(child(disk, "target"), "bus"),
      device: attr(disk, "device") ?? "disk",
      type,
      source: diskSource(type, child(disk, "source")),
      driverType: attr(child(disk, "driver"), "type"),
      readonly: child(disk, "readonly") !== undefined,
      shareable: child(disk, "shareable") !== undefined,
    };
  });
}
