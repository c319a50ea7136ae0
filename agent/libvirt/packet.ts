/**
 * Packet framing of libvirt's RPC protocol (src/rpc/virnetprotocol.x):
 * a 4-byte total length (counting itself), a 24-byte header, an XDR body.
 * The decoder accepts the byte stream in whatever chunks the socket hands
 * over and yields whole packets.
 */
import { XdrError } from "./xdr.js";

export const LENGTH_WORD_BYTES = 4;
export const HEADER_BYTES = 24;
/** VIR_NET_MESSAGE_MAX: the daemon never sends more, and refuses more. */
export const MAX_PACKET_BYTES = 33_554_432;

export enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

export enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export interface PacketHeader {
  program: number;
  version: number;
  procedure: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export interface Packet {
  header: PacketHeader;
  body: Buffer;
}

export function encodePacket(header: PacketHeader, body: Buffer = Buffer.alloc(0)): Buffer {
  const total = LENGTH_WORD_BYTES + HEADER_BYTES + body.length;
  if (total > MAX_PACKET_BYTES) throw new XdrError(`packet of ${total} bytes exceeds the protocol limit of ${MAX_PACKET_BYTES}`);
  const packet = Buffer.allocUnsafe(total);
  packet.writeUInt32BE(total, 0);
  packet.writeUInt32BE(header.program, 4);
  packet.writeUInt32BE(header.version, 8);
  packet.writeInt32BE(header.procedure, 12);
  packet.writeInt32BE(header.type, 16);
  packet.writeUInt32BE(header.serial, 20);
  packet.writeInt32BE(header.status, 24);
  body.copy(packet, LENGTH_WORD_BYTES + HEADER_BYTES);
  return packet;
}

export function decodeHeader(buf: Buffer): PacketHeader {
  if (buf.length < HEADER_BYTES) throw new XdrError(`packet header needs ${HEADER_BYTES} bytes, got ${buf.length}`);
  return {
    program: buf.readUInt32BE(0),
    version: buf.readUInt32BE(4),
    procedure: buf.readInt32BE(8),
    type: buf.readInt32BE(12),
    serial: buf.readUInt32BE(16),
    status: buf.readInt32BE(20),
  };
}

/**
 * Reassembles packets from stream chunks. Keeps a list of pending chunks and
 * copies only once a whole packet is there, so a 32 MiB XML reply arriving in
 * 64 KiB pieces costs one copy, not thousands.
 */
export class PacketDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1;

  /** Feeds one chunk; returns every packet it completed, in order. */
  push(chunk: Buffer): Packet[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const packets: Packet[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < LENGTH_WORD_BYTES) break;
        const length = this.peekLength();
        if (length < LENGTH_WORD_BYTES + HEADER_BYTES || length > MAX_PACKET_BYTES) {
          throw new XdrError(`invalid packet length ${length} (allowed ${LENGTH_WORD_BYTES + HEADER_BYTES}..${MAX_PACKET_BYTES})`);
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      const whole = this.take(this.expected);
      this.expected = -1;
      packets.push({
        header: decodeHeader(whole.subarray(LENGTH_WORD_BYTES)),
        body: whole.subarray(LENGTH_WORD_BYTES + HEADER_BYTES),
      });
    }
    return packets;
  }

  /** Bytes received that do not yet form a whole packet. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= LENGTH_WORD_BYTES) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks).readUInt32BE(0);
  }

  private take(bytes: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const taken = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }
}
