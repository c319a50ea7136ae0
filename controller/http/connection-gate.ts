/**
 * Connections are counted as the kernel hands them over, before a byte is
 * read: per client address, in all, and (over TLS) those still in their
 * handshake. Past a cap the connection is refused at once: a plain one gets
 * 503 NS_ERR_TOO_MANY_CONNECTIONS and is closed, a TLS one is closed (no
 * answer can be read before a handshake). One client holding idle sockets
 * therefore cannot use up the descriptors every other client, the database
 * and the agents need.
 *
 * Authenticated agent sessions leave the per-client count (`exempt`): they
 * are bounded by the enrolled hosts (one live session each), and a fleet
 * behind one NAT address must not hit a cap meant for anonymous sockets.
 */
import type { Server } from "node:net";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { refuseOnSocket } from "./socket-refusal.js";

export type ConnectionRefusal = "client-limit" | "connection-limit" | "tls-handshake-limit";

export interface ConnectionGateOptions {
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** Set for a TLS server: connections not yet through their handshake. */
  maxTlsHandshakes?: number;
  onRefused(reason: ConnectionRefusal, client: string): void;
}

interface Connection {
  client: string;
  /** Still in the per-client count (not an authenticated agent). */
  perClient: boolean;
  handshaking: boolean;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are one client. */
function clientOf(address: string | undefined): string {
  if (address === undefined) return "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

function keyOf(socket: Duplex): string | null {
  const s = socket as Partial<Socket>;
  return s.remoteAddress === undefined || s.remotePort === undefined ? null : `${clientOf(s.remoteAddress)}|${s.remotePort}`;
}

export class ConnectionGate {
  /** By remote address and port, which the raw socket and its TLS socket share. */
  private readonly open = new Map<string, Connection>();
  private readonly perClient = new Map<string, number>();
  private handshakes = 0;
  private readonly refusedSockets = new WeakSet<Duplex>();

  constructor(private readonly opts: ConnectionGateOptions) {}

  /** Must be attached before listening. */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
    if (this.opts.maxTlsHandshakes !== undefined) server.on("secureConnection", (socket: Socket) => this.handshaken(socket));
  }

  /** Open connections now. */
  get connections(): number {
    return this.open.size;
  }

  /** True for a socket this gate refused: the HTTP server may still parse a request that arrived on it, which must not be served. */
  refused(socket: Duplex): boolean {
    return this.refusedSockets.has(socket);
  }

  /** An authenticated agent session: no longer counted against its address. */
  exempt(socket: Duplex): void {
    const key = keyOf(socket);
    const conn = key === null ? undefined : this.open.get(key);
    if (!conn?.perClient) return;
    conn.perClient = false;
    this.decrementClient(conn.client);
  }

  private admit(socket: Socket): void {
    const client = clientOf(socket.remoteAddress);
    const key = keyOf(socket);
    const tls = this.opts.maxTlsHandshakes !== undefined;
    let reason: ConnectionRefusal | null = null;
    if (key === null) reason = "connection-limit"; // already closed by the peer: nothing to count
    else if (this.open.size >= this.opts.maxConnections) reason = "connection-limit";
    else if ((this.perClient.get(client) ?? 0) >= this.opts.maxConnectionsPerClient) reason = "client-limit";
    else if (tls && this.handshakes >= this.opts.maxTlsHandshakes!) reason = "tls-handshake-limit";
    if (reason !== null) {
      this.refuse(socket, reason, client, tls);
      return;
    }
    const conn: Connection = { client, perClient: true, handshaking: tls };
    this.open.set(key!, conn);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    if (tls) this.handshakes++;
    socket.once("close", () => {
      this.open.delete(key!);
      if (conn.perClient) this.decrementClient(client);
      if (conn.handshaking) this.handshakes--;
    });
  }

  private handshaken(socket: Duplex): void {
    const key = keyOf(socket);
    const conn = key === null ? undefined : this.open.get(key);
    if (!conn?.handshaking) return;
    conn.handshaking = false;
    this.handshakes--;
  }

  private refuse(socket: Socket, reason: ConnectionRefusal, client: string, tls: boolean): void {
    this.refusedSockets.add(socket);
    socket.on("error", () => {});
    this.opts.onRefused(reason, client);
    if (tls || reason === "tls-handshake-limit") {
      socket.destroy();
      return;
    }
    const message = reason === "client-limit"
      ? `this address has ${this.opts.maxConnectionsPerClient} connections open (http.maxConnectionsPerClient): close idle ones or reuse them`
      : `the controller has ${this.opts.maxConnections} connections open (http.maxConnections): try again shortly`;
    refuseOnSocket(socket, "NS_ERR_TOO_MANY_CONNECTIONS", message, { "Retry-After": "1" });
  }

  private decrementClient(client: string): void {
    const n = (this.perClient.get(client) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(client);
    else this.perClient.set(client, n);
  }
}
