/**
 * XDR codecs of the structures that many procedures share: domain and
 * snapshot references, UUIDs.
 */
import { XdrReader, XdrWriter, XdrError } from "./xdr.js";
import { REMOTE_STRING_MAX, VIR_UUID_BUFLEN } from "./protocol.js";

/** remote_nonnull_domain: how the daemon names a domain in every call. */
export interface DomainRef {
  name: string;
  uuid: string;
  /** Running domains have an id; defined-but-stopped ones have -1. */
  id: number;
}

/** remote_nonnull_domain_snapshot */
export interface SnapshotRef {
  name: string;
  domain: DomainRef;
}

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function uuidToBytes(uuid: string): Buffer {
  if (!UUID_PATTERN.test(uuid)) throw new XdrError(`not a UUID: ${JSON.stringify(uuid)}`);
  return Buffer.from(uuid.replace(/-/g, ""), "hex");
}

export function uuidFromBytes(bytes: Buffer): string {
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function writeDomain(w: XdrWriter, dom: DomainRef): void {
  w.string(dom.name, REMOTE_STRING_MAX);
  w.fixedOpaque(uuidToBytes(dom.uuid), VIR_UUID_BUFLEN);
  w.int(dom.id);
}

export function readDomain(r: XdrReader): DomainRef {
  const name = r.string(REMOTE_STRING_MAX);
  const uuid = uuidFromBytes(r.fixedOpaque(VIR_UUID_BUFLEN));
  const id = r.int();
  return { name, uuid, id };
}

export function writeSnapshot(w: XdrWriter, snap: SnapshotRef): void {
  w.string(snap.name, REMOTE_STRING_MAX);
  writeDomain(w, snap.domain);
}

export function readSnapshot(r: XdrReader): SnapshotRef {
  const name = r.string(REMOTE_STRING_MAX);
  const domain = readDomain(r);
  return { name, domain };
}

export function writeOptionalString(w: XdrWriter, value: string | null): void {
  w.optional(value, (x, v) => x.string(v, REMOTE_STRING_MAX));
}

export function readOptionalString(r: XdrReader): string | null {
  return r.optional((x) => x.string(REMOTE_STRING_MAX));
}
