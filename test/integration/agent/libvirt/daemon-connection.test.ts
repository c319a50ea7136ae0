/**
 * What happens to the connection itself: keepalive PINGs answered so the
 * daemon keeps us, and a killed daemon failing every pending call at once.
 * Uses a private libvirtd with a short keepalive so the system daemon is left alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { once } from "node:events";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { ConnectionInterruptedError } from "../../../../agent/libvirt/errors.js";
import { encodePacket, MessageStatus, MessageType } from "../../../../agent/libvirt/packet.js";
import { DriverFeature, REMOTE_PROGRAM, RemoteProcedure } from "../../../../agent/libvirt/protocol.js";
import { startSessionDaemon, type SessionDaemon } from "../../../helpers/session-daemon.js";

const KEEPALIVE_INTERVAL_S = 1;
const KEEPALIVE_COUNT = 2;
// The daemon drops a silent client after interval * (count + 1) seconds.
const DROP_AFTER_MS = KEEPALIVE_INTERVAL_S * (KEEPALIVE_COUNT + 1) * 1000;

let daemon: SessionDaemon;

beforeAll(async () => {
  daemon = await startSessionDaemon({ keepaliveInterval: KEEPALIVE_INTERVAL_S, keepaliveCount: KEEPALIVE_COUNT });
});
afterAll(async () => { await daemon?.stop(); });

describe("keepalive", () => {
  it("a client that asks for keepalive but never answers is dropped by the daemon (the setup is sensitive)", async () => {
    const socket = net.createConnection(daemon.socketPath);
    await once(socket, "connect");
    const body = Buffer.alloc(4);
    body.writeInt32BE(DriverFeature.PROGRAM_KEEPALIVE);
    socket.write(encodePacket({ program: REMOTE_PROGRAM, version: 1, procedure: RemoteProcedure.CONNECT_SUPPORTS_FEATURE,
      type: MessageType.Call, serial: 1, status: MessageStatus.Ok }, body));
    socket.resume();
    const t0 = Date.now();
    await once(socket, "close");
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThan(DROP_AFTER_MS - 1000);
    expect(elapsed).toBeLessThan(DROP_AFTER_MS + 3000);
  });

  it("our client answers every PING and keeps its connection well past the drop time", async () => {
    const conn = await LibvirtConnection.open({ uri: "test:///default", socketPath: daemon.socketPath });
    await new Promise((r) => setTimeout(r, DROP_AFTER_MS + 2000));
    expect(conn.isClosed).toBe(false);
    expect(conn.keepalivePingsAnswered).toBeGreaterThanOrEqual(3);
    expect((await conn.connectGetLibVersion()).major).toBeGreaterThanOrEqual(9);
    await conn.connectClose();
  });
});

describe("daemon killed", () => {
  it("rejects every pending call at once with an interrupted error and ends event streams", async () => {
    const conn = await LibvirtConnection.open({ uri: "test:///default", socketPath: daemon.socketPath });
    const sub = await conn.domainEvents();
    // A stopped daemon reads nothing, so these calls stay pending until it dies.
    daemon.signal("SIGSTOP");
    const calls = [conn.connectListAllDomains(), conn.connectGetHostname(), conn.nodeGetInfo(), conn.connectGetLibVersion()]
      .map((p) => p.then(() => "resolved", (e: unknown) => e));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    daemon.signal("SIGKILL");
    const results = await Promise.all(calls);
    const elapsed = performance.now() - t0;
    for (const result of results) expect(result).toBeInstanceOf(ConnectionInterruptedError);
    expect(elapsed).toBeLessThan(1000);
    // The stream ends (iteration finishes) and says why.
    const events = [];
    for await (const e of sub.events) events.push(e);
    expect(events).toEqual([]);
    expect(sub.events.reason).toBeInstanceOf(ConnectionInterruptedError);
    expect(conn.isClosed).toBe(true);
    await expect(conn.connectGetHostname()).rejects.toBeInstanceOf(ConnectionInterruptedError);
  });
});
