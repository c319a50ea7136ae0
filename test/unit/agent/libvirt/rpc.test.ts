import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { once } from "node:events";
import { RpcClient } from "../../../../agent/libvirt/rpc.js";
import { encodePacket, MessageStatus, MessageType } from "../../../../agent/libvirt/packet.js";
import { ConnectionInterruptedError, LibvirtError } from "../../../../agent/libvirt/errors.js";
import { ErrorCode, KEEPALIVE_PROGRAM, KeepaliveProcedure, REMOTE_PROGRAM } from "../../../../agent/libvirt/protocol.js";
import { startFakeDaemon, type FakeDaemon } from "../../../helpers/fake-daemon.js";

const LIB_VERSION = 157;
const SLOW = 9999;

let daemon: FakeDaemon | undefined;
afterEach(async () => { await daemon?.close(); daemon = undefined; });

async function connect(d: FakeDaemon): Promise<RpcClient> {
  const socket = net.createConnection(d.socketPath);
  await once(socket, "connect");
  return new RpcClient(socket);
}

const versionReply = () => Buffer.from("0000000000895440", "hex");

describe("RpcClient against a fake daemon", () => {
  it("matches replies to calls by serial, even when many are in flight", async () => {
    daemon = await startFakeDaemon({ [`${REMOTE_PROGRAM}:${LIB_VERSION}`]: versionReply });
    const rpc = await connect(daemon);
    const replies = await Promise.all(Array.from({ length: 50 }, () => rpc.call(REMOTE_PROGRAM, 1, LIB_VERSION, Buffer.alloc(0))));
    expect(replies.every((r) => r.readBigUInt64BE(0) === 9_000_000n)).toBe(true);
    expect(new Set(daemon.received.map((h) => h.serial)).size).toBe(50);
    expect(rpc.pendingCalls).toBe(0);
    rpc.close();
  });

  it("turns an error reply into a LibvirtError with libvirt's code, domain and message", async () => {
    daemon = await startFakeDaemon({});
    const rpc = await connect(daemon);
    const err = await rpc.call(REMOTE_PROGRAM, 1, 4242, Buffer.alloc(0), { name: "madeUpCall" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    const lerr = err as LibvirtError;
    expect(lerr.libvirtCode).toBe(ErrorCode.VIR_ERR_NO_SUPPORT);
    expect(lerr.codeName).toBe("VIR_ERR_NO_SUPPORT");
    expect(lerr.domainName).toBe("VIR_FROM_REMOTE");
    expect(lerr.details.str1).toBe("detail one");
    expect(lerr.message).toBe("libvirt: unknown procedure 4242 [VIR_ERR_NO_SUPPORT] (madeUpCall)");
    expect(lerr.code).toBe("NS_ERR_LIBVIRT");
    rpc.close();
  });

  it("rejects every pending call at once when the daemon drops the connection", async () => {
    daemon = await startFakeDaemon({ [`${REMOTE_PROGRAM}:${SLOW}`]: () => "hang" });
    const rpc = await connect(daemon);
    const calls = Array.from({ length: 5 }, (_, i) =>
      rpc.call(REMOTE_PROGRAM, 1, SLOW, Buffer.alloc(0), { name: `slow${i}` }).catch((e: unknown) => e));
    await waitFor(() => daemon!.received.length === 5);
    const closed = new Promise<Error>((resolve) => rpc.onClose(resolve));
    daemon.dropClients();
    const errors = await Promise.all(calls);
    for (const [i, err] of errors.entries()) {
      expect(err).toBeInstanceOf(ConnectionInterruptedError);
      expect((err as Error).message).toMatch(new RegExp(`slow${i}: the daemon closed the connection`));
    }
    expect((await closed).message).toMatch(/interrupted/);
    // A call after the end fails immediately instead of hanging.
    await expect(rpc.call(REMOTE_PROGRAM, 1, LIB_VERSION, Buffer.alloc(0))).rejects.toBeInstanceOf(ConnectionInterruptedError);
  });

  it("answers the daemon's keepalive PING with a PONG", async () => {
    daemon = await startFakeDaemon({});
    const rpc = await connect(daemon);
    await waitFor(() => true);
    daemon.broadcast(encodePacket({ program: KEEPALIVE_PROGRAM, version: 1, procedure: KeepaliveProcedure.PING, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }));
    await waitFor(() => daemon!.received.some((h) => h.program === KEEPALIVE_PROGRAM));
    const pong = daemon.received.find((h) => h.program === KEEPALIVE_PROGRAM)!;
    expect(pong).toMatchObject({ procedure: KeepaliveProcedure.PONG, type: MessageType.Message, status: MessageStatus.Ok });
    expect(rpc.keepalivePingsAnswered).toBe(1);
    rpc.close();
  });

  it("routes asynchronous messages to their handler and survives a throwing handler", async () => {
    daemon = await startFakeDaemon({});
    const socket = net.createConnection(daemon.socketPath);
    await once(socket, "connect");
    const handlerErrors: unknown[] = [];
    const rpc = new RpcClient(socket, (err) => handlerErrors.push(err));
    const seen: string[] = [];
    rpc.onMessage(REMOTE_PROGRAM, 318, (body) => {
      if (body.toString() === "boom") throw new Error("consumer bug");
      seen.push(body.toString());
    });
    await waitFor(() => true);
    const msg = (text: string) => encodePacket({ program: REMOTE_PROGRAM, version: 1, procedure: 318, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }, Buffer.from(text));
    daemon.broadcast(Buffer.concat([msg("one"), msg("boom"), msg("two")]));
    await waitFor(() => seen.length === 2);
    expect(seen).toEqual(["one", "two"]);
    expect(handlerErrors).toHaveLength(1);
    expect(rpc.closed).toBe(false);
    rpc.close();
  });

  it("closes the connection on unreadable framing instead of guessing", async () => {
    daemon = await startFakeDaemon({ [`${REMOTE_PROGRAM}:${SLOW}`]: () => "hang" });
    const rpc = await connect(daemon);
    const pending = rpc.call(REMOTE_PROGRAM, 1, SLOW, Buffer.alloc(0)).catch((e: unknown) => e);
    await waitFor(() => daemon!.received.length === 1);
    daemon.broadcast(Buffer.from("00000004", "hex"));
    const err = await pending;
    expect(err).toBeInstanceOf(ConnectionInterruptedError);
    expect((err as Error).message).toMatch(/unreadable data from the daemon: invalid packet length 4/);
  });

  it("lets a caller abort one call without touching the connection", async () => {
    daemon = await startFakeDaemon({ [`${REMOTE_PROGRAM}:${SLOW}`]: () => "hang", [`${REMOTE_PROGRAM}:${LIB_VERSION}`]: versionReply });
    const rpc = await connect(daemon);
    const err = await rpc.call(REMOTE_PROGRAM, 1, SLOW, Buffer.alloc(0), { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe("TimeoutError");
    expect(rpc.pendingCalls).toBe(0);
    await expect(rpc.call(REMOTE_PROGRAM, 1, LIB_VERSION, Buffer.alloc(0))).resolves.toHaveLength(8);
    rpc.close();
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  do {
    await new Promise((r) => setTimeout(r, 5));
    if (predicate()) return;
  } while (Date.now() < deadline);
  throw new Error("condition not met in time");
}
