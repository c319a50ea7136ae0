import { describe, expect, it } from "vitest";
import { decodeHeader, encodePacket, MessageStatus, MessageType, PacketDecoder } from "../../../../agent/libvirt/packet.js";
import { REMOTE_PROGRAM } from "../../../../agent/libvirt/protocol.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// CONNECT_OPEN call with name "test:///default", flags 0, serial 1 — as it goes on the wire.
const CONNECT_OPEN_CALL = hex(`
  00000038
  20008086 00000001 00000001 00000000 00000001 00000000
  00000001 0000000f 74657374 3a2f2f2f 64656661 756c7400 00000000`);

// GET_LIB_VERSION reply (9000000), serial 2.
const LIB_VERSION_REPLY = hex(`
  00000024
  20008086 00000001 0000009d 00000001 00000002 00000000
  00000000 00895440`);

describe("encodePacket", () => {
  it("writes the length word, header and body exactly as libvirtd expects", () => {
    const body = hex("00000001 0000000f 74657374 3a2f2f2f 64656661 756c7400 00000000");
    const packet = encodePacket({ program: REMOTE_PROGRAM, version: 1, procedure: 1, type: MessageType.Call, serial: 1, status: MessageStatus.Ok }, body);
    expect(packet).toEqual(CONNECT_OPEN_CALL);
  });

  it("decodes a header", () => {
    expect(decodeHeader(LIB_VERSION_REPLY.subarray(4))).toEqual({
      program: REMOTE_PROGRAM, version: 1, procedure: 157, type: MessageType.Reply, serial: 2, status: MessageStatus.Ok,
    });
  });
});

describe("PacketDecoder", () => {
  it("yields one packet from one chunk", () => {
    const [packet, ...rest] = new PacketDecoder().push(LIB_VERSION_REPLY);
    expect(rest).toEqual([]);
    expect(packet!.header.procedure).toBe(157);
    expect(packet!.body).toEqual(hex("00000000 00895440"));
  });

  it("reassembles a packet split at every possible boundary, including inside the length word", () => {
    for (let cut = 1; cut < LIB_VERSION_REPLY.length; cut++) {
      const decoder = new PacketDecoder();
      expect(decoder.push(LIB_VERSION_REPLY.subarray(0, cut))).toEqual([]);
      const packets = decoder.push(LIB_VERSION_REPLY.subarray(cut));
      expect(packets, `cut at ${cut}`).toHaveLength(1);
      expect(packets[0]!.body).toEqual(hex("00000000 00895440"));
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it("handles a byte-at-a-time stream carrying two packets", () => {
    const stream = Buffer.concat([CONNECT_OPEN_CALL, LIB_VERSION_REPLY]);
    const decoder = new PacketDecoder();
    const packets = [];
    for (const byte of stream) packets.push(...decoder.push(Buffer.from([byte])));
    expect(packets.map((p) => p.header.procedure)).toEqual([1, 157]);
    expect(packets[0]!.body.subarray(8, 23).toString()).toBe("test:///default");
  });

  it("yields several packets from one chunk and keeps a partial third", () => {
    const decoder = new PacketDecoder();
    const chunk = Buffer.concat([LIB_VERSION_REPLY, CONNECT_OPEN_CALL, LIB_VERSION_REPLY.subarray(0, 10)]);
    expect(decoder.push(chunk).map((p) => p.header.serial)).toEqual([2, 1]);
    expect(decoder.pendingBytes).toBe(10);
    expect(decoder.push(LIB_VERSION_REPLY.subarray(10)).map((p) => p.header.serial)).toEqual([2]);
  });

  it("rejects lengths shorter than a header or above the protocol maximum", () => {
    expect(() => new PacketDecoder().push(hex("00000010 00000000"))).toThrow(/invalid packet length 16/);
    expect(() => new PacketDecoder().push(hex("7fffffff"))).toThrow(/invalid packet length 2147483647/);
  });
});
