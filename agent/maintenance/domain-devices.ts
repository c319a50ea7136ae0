/**
 * Host devices passed through to a VM (<hostdev>), out of its domain XML: a
 * snapshot cannot capture their state, and a running VM with one usually
 * cannot be snapshotted with memory at all, so inspect lists them for the
 * operator. agent/libvirt/domain-xml.ts reads disks; this reads only hostdevs.
 */
import { XMLParser } from "fast-xml-parser";

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  isArray: (name) => name === "hostdev",
  parseAttributeValue: false,
  parseTagValue: false,
});

type XmlNode = Record<string, unknown>;

function node(value: unknown): XmlNode | undefined {
  return value && typeof value === "object" ? (value as XmlNode) : undefined;
}

function attr(value: unknown, name: string): string | undefined {
  const v = node(value)?.[`@${name}`];
  return typeof v === "string" ? v : undefined;
}

function hex(value: string | undefined, width: number): string {
  const n = value === undefined ? NaN : Number.parseInt(value.replace(/^0x/i, ""), 16);
  return Number.isNaN(n) ? "?" : n.toString(16).padStart(width, "0");
}

function describe(hostdev: XmlNode): string {
  const type = attr(hostdev, "type") ?? attr(hostdev, "mode") ?? "unknown";
  const source = node(hostdev.source);
  const address = node(source?.address);
  switch (type) {
    case "pci":
      return `pci ${hex(attr(address, "domain"), 4)}:${hex(attr(address, "bus"), 2)}:${hex(attr(address, "slot"), 2)}.${hex(attr(address, "function"), 1)}`;
    case "usb": {
      const vendor = attr(node(source?.vendor), "id");
      const product = attr(node(source?.product), "id");
      if (vendor || product) return `usb ${hex(vendor, 4)}:${hex(product, 4)}`;
      return `usb bus ${attr(address, "bus") ?? "?"} device ${attr(address, "device") ?? "?"}`;
    }
    case "scsi": {
      const adapter = attr(node(source?.adapter), "name");
      return `scsi ${adapter ?? "?"} ${attr(address, "bus") ?? "?"}:${attr(address, "target") ?? "?"}:${attr(address, "unit") ?? "?"}`;
    }
    case "mdev":
      return `mdev ${attr(address, "uuid") ?? "?"}`;
    default:
      return type;
  }
}

/** One line per <hostdev>, e.g. "pci 0000:03:00.0", "usb 046d:c52b", "mdev <uuid>". */
export function parseHostdevs(xml: string): string[] {
  const doc = parser.parse(xml) as XmlNode;
  const devices = node(node(doc.domain)?.devices);
  const hostdevs = (devices?.hostdev as unknown[] | undefined) ?? [];
  return hostdevs.map((h) => describe(node(h) ?? {}));
}
