/**
 * A small but faithful controller for agent tests: a real `ws` server on a
 * real port (0 = any free one) that speaks protocol v1 the way the controller
 * must — bearer token checked on the upgrade (401 with a JSON error body),
 * one live agent per host (409), every frame validated with
 * parseAgentMessage and its items with checkAgentFrame (invalid ones
 * answered with `error` and recorded in invalidFrames), hello answered with
 * welcome, events and events-lost answered with ack — and records everything.
 *
 * Knobs for failure tests: withhold acks, stop answering pings, go away
 * (close every connection and stop listening) and come back on the same port;
 * for a rogue controller, any welcome values and any text frame (sendText).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import { encodeMessage, parseAgentMessage } from "../../shared/protocol/codec.js";
import { checkAgentFrame, listRefused, usableEventId } from "../../shared/protocol/items.js";
import {
  MAX_MESSAGE_BYTES, type AgentMessage, type DomainEventMessage, type EventsLost, type Hello, type Inventory, type StepResultMessage,
} from "../../shared/protocol/messages.js";

export interface ProtocolPeerOptions {
  token: string;
  port?: number;
  inventoryIntervalSeconds?: number;
  heartbeatSeconds?: number;
}

export interface Received<T> {
  at: number;
  connection: number;
  message: T;
}

export interface UpgradeAttempt {
  at: number;
  status: 101 | 401 | 409;
}

export class ProtocolPeer {
  /** Every valid message, in arrival order. */
  readonly messages: Received<AgentMessage>[] = [];
  readonly hellos: Received<Hello>[] = [];
  readonly inventories: Received<Inventory>[] = [];
  /** Every event as it arrived, duplicates included. */
  readonly eventDeliveries: Received<DomainEventMessage>[] = [];
  readonly lost: Received<EventsLost>[] = [];
  readonly stepResults: Received<StepResultMessage>[] = [];
  readonly invalidFrames: string[] = [];
  readonly upgrades: UpgradeAttempt[] = [];
  /** Close codes of agent connections, in order. */
  readonly closes: { connection: number; code: number; at: number }[] = [];

  withholdAcks = false;
  answerPings = true;
  /** Ids whose ack was withheld. */
  readonly withheld: string[] = [];

  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly live = new Map<string, WebSocket>();
  private readonly sockets = new Set<WebSocket>();
  private connectionCount = 0;
  private listening = false;
  port = 0;

  private constructor(private readonly options: ProtocolPeerOptions) {
    this.wss = new WebSocketServer({ noServer: true, autoPong: false, maxPayload: MAX_MESSAGE_BYTES });
    this.server = http.createServer((_req, res) => { res.writeHead(404).end(); });
    this.server.on("upgrade", (req, socket, head) => this.upgrade(req, socket, head));
  }

  static async start(options: ProtocolPeerOptions): Promise<ProtocolPeer> {
    const peer = new ProtocolPeer(options);
    await peer.listen(options.port ?? 0);
    return peer;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/agent`;
  }

  get connections(): number {
    return this.connectionCount;
  }

  /** Distinct events by id, in order of first arrival. */
  get uniqueEvents(): DomainEventMessage[] {
    const seen = new Set<string>();
    const out: DomainEventMessage[] = [];
    for (const { message } of this.eventDeliveries) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      out.push(message);
    }
    return out;
  }

  /** Closes every agent connection abruptly and stops listening; records are kept. */
  async goAway(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    this.live.clear();
    if (!this.listening) return;
    this.listening = false;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async comeBack(): Promise<void> {
    await this.listen(this.port);
  }

  /** Sends `text` as it is (a frame the protocol may not allow) on the current connection(s); resolves once written. */
  async sendText(text: string): Promise<void> {
    await Promise.all([...this.sockets].map((ws) => new Promise<void>((resolve, reject) => ws.send(text, (err) => (err ? reject(err) : resolve())))));
  }

  /** Sends the acks that were withheld, on the current connection(s). */
  releaseAcks(): void {
    const ids = this.withheld.splice(0);
    for (const ws of this.sockets) ws.send(encodeMessage({ type: "ack", ids }));
  }

  async close(): Promise<void> {
    await this.goAway();
    this.wss.close();
  }

  /** Polls `predicate` until true; fails with `what` after `timeoutMs`. */
  async waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`protocol peer: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }

  private reject(socket: Duplex, status: 401 | 409, code: string, message: string): void {
    this.upgrades.push({ at: Date.now(), status });
    const body = JSON.stringify({ error: { code, message } });
    const reason = status === 401 ? "Unauthorized" : "Conflict";
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`);
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      this.reject(socket, 401, "NS_ERR_AUTH", "invalid or missing bearer token");
      return;
    }
    // The token names the host; the test peer has one token, so one host.
    if (this.live.size > 0) {
      this.reject(socket, 409, "NS_ERR_AGENT_CONFLICT", "another agent for this host is connected");
      return;
    }
    this.upgrades.push({ at: Date.now(), status: 101 });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  private accept(ws: WebSocket): void {
    const connection = ++this.connectionCount;
    this.sockets.add(ws);
    this.live.set("host", ws);
    ws.on("ping", (data) => { if (this.answerPings) ws.pong(data); });
    ws.on("close", (code) => {
      this.closes.push({ connection, code, at: Date.now() });
      this.sockets.delete(ws);
      if (this.live.get("host") === ws) this.live.delete("host");
    });
    let helloSeen = false;
    ws.on("message", (data) => {
      const text = data.toString();
      const parsed = parseAgentMessage(text);
      if (!parsed.ok) {
        this.invalidFrames.push(text);
        ws.send(encodeMessage({ type: "error", code: `NS_ERR_PROTOCOL_${parsed.kind.toUpperCase().replace(/-/g, "_")}`, message: parsed.detail }));
        return;
      }
      // Items are checked one by one, as the controller does: a refused one makes the frame count as invalid here.
      const { message, refused } = checkAgentFrame(parsed.message);
      if (refused.length > 0) {
        this.invalidFrames.push(text);
        ws.send(encodeMessage({ type: "error", code: "NS_ERR_PROTOCOL_ITEM", message: listRefused(refused) }));
      }
      if (helloSeen === (message.type === "hello")) {
        this.invalidFrames.push(text);
        ws.send(encodeMessage({ type: "error", code: "NS_ERR_PROTOCOL_SEQUENCE", message: helloSeen ? "hello sent twice" : "hello must come first" }));
        return;
      }
      helloSeen = true;
      const at = Date.now();
      this.messages.push({ at, connection, message });
      switch (message.type) {
        case "hello":
          this.hellos.push({ at, connection, message });
          ws.send(encodeMessage({
            type: "welcome", sessionId: randomUUID(), host: message.host,
            inventoryIntervalSeconds: this.options.inventoryIntervalSeconds ?? 300,
            heartbeatSeconds: this.options.heartbeatSeconds ?? 15,
          }));
          break;
        case "inventory":
          this.inventories.push({ at, connection, message });
          break;
        case "events":
          for (const event of message.events) this.eventDeliveries.push({ at, connection, message: event });
          this.ack(ws, [...message.events.map((e) => e.id),
            ...refused.map((r) => usableEventId(r.raw)).filter((id): id is string => id !== null)]);
          break;
        case "events-lost":
          this.lost.push({ at, connection, message });
          this.ack(ws, [message.id]);
          break;
        case "step-result":
          this.stepResults.push({ at, connection, message });
          break;
      }
    });
  }

  private ack(ws: WebSocket, ids: string[]): void {
    if (this.withholdAcks) {
      this.withheld.push(...ids);
      return;
    }
    ws.send(encodeMessage({ type: "ack", ids }));
  }
}
