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

/** remote_domain_block_commit_args, without the domain: which disk, and which part of its chain goes where. */
export interface BlockCommitArgs {
  /** Target ("vda") or source path. */
  disk: string;
  /** The image to commit into; null: the bottom of the chain, or top's backing file with SHALLOW. */
  base: string | null;
  /** The image to commit from; null: the active image. */
  top: string | null;
  /** Bytes (with BANDWIDTH_BYTES) or MiB per second; 0 is unlimited. */
  bandwidth: number;
  flags: number;
}

export function writeBlockCommitArgs(w: XdrWriter, dom: DomainRef, args: BlockCommitArgs): void {
  writeDomain(w, dom);
  w.string(args.disk, REMOTE_STRING_MAX);
  writeOptionalString(w, args.base);
  writeOptionalString(w, args.top);
  w.uhyper(args.bandwidth);
  w.uint(args.flags);
}

/** remote_domain_get_block_job_info_ret: null when the disk has no block job. */
export interface BlockJobInfo {
  /** virDomainBlockJobType number. */
  type: number;
  bandwidth: number;
  /** Progress: the job has copied `cur` of `end`. libvirt reports cur == end only once the job is ready (or done). */
  cur: number;
  end: number;
}

export function readBlockJobInfo(r: XdrReader): BlockJobInfo | null {
  const found = r.int();
  const type = r.int();
  const bandwidth = r.uhyperNumber();
  const cur = r.uhyperNumber();
  const end = r.uhyperNumber();
  return found === 0 ? null : { type, bandwidth, cur, end };
}
