/**
 * A stand-in libvirtd for unit tests of the RPC core: a real unix socket that
 * answers calls by procedure number. Unknown procedures get an error reply,
 * never silence, as the real daemon does.
 */
import net from "node:net";
import os from "node:os";
import path from "node:path";
import fs from "node:fs/promises";
import { encodePacket, MessageStatus, MessageType, PacketDecoder, type PacketHeader } from "../../agent/libvirt/packet.js";
import { XdrWriter } from "../../agent/libvirt/xdr.js";
import { ErrorCode, ErrorDomain } from "../../agent/libvirt/protocol.js";

export type FakeReply = Buffer | { error: { code: number; message: string } } | "hang";
export type FakeHandler = (body: Buffer, header: PacketHeader) => FakeReply;

export interface FakeDaemon {
  socketPath: string;
  /** Every packet the client sent, in order. */
  received: PacketHeader[];
  /** Sends raw bytes to every connected client. */
  broadcast(bytes: Buffer): void;
  /** Drops every client connection. */
  dropClients(): void;
  close(): Promise<void>;
}

export function errorBody(code: number, message: string, domain = ErrorDomain.VIR_FROM_REMOTE): Buffer {
  const w = new XdrWriter();
  w.int(code).int(domain);
  w.optional(message, (x, m) => x.string(m));
  w.int(2); // level: error
  w.bool(false); // dom
  w.optional("detail one", (x, s) => x.string(s)); // str1
  w.bool(false).bool(false); // str2, str3
  w.int(0).int(0); // int1, int2
  w.bool(false); // net
  return w.toBuffer();
}

export async function startFakeDaemon(handlers: Record<string, FakeHandler>): Promise<FakeDaemon> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ns-fake-libvirtd-"));
  const socketPath = path.join(dir, "libvirt-sock");
  const clients = new Set<net.Socket>();
  const received: PacketHeader[] = [];
  const server = net.createServer((socket) => {
    clients.add(socket);
    socket.on("close", () => clients.delete(socket));
    socket.on("error", () => {});
    const decoder = new PacketDecoder();
    socket.on("data", (chunk) => {
      for (const { header, body } of decoder.push(chunk)) {
        received.push(header);
        if (header.type !== MessageType.Call) continue;
        const handler = handlers[`${header.program}:${header.procedure}`];
        const reply: FakeReply = handler
          ? handler(body, header)
          : { error: { code: ErrorCode.VIR_ERR_NO_SUPPORT, message: `unknown procedure ${header.procedure}` } };
        if (reply === "hang") continue;
        const isError = !Buffer.isBuffer(reply);
        socket.write(encodePacket(
          { ...header, type: MessageType.Reply, status: isError ? MessageStatus.Error : MessageStatus.Ok },
          isError ? errorBody(reply.error.code, reply.error.message) : reply,
        ));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    received,
    broadcast: (bytes) => { for (const c of clients) c.write(bytes); },
    dropClients: () => { for (const c of clients) c.destroy(); },
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
