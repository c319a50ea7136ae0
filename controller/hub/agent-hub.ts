/**
 * The WebSocket hub at /v1/agent: authenticates each upgrade by host token,
 * refuses a second live agent for the same host, keeps heartbeats, and hands
 * frames to the agent's session.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../../shared/logging.js";
import type { Store } from "../store/index.js";
import type { ControllerMetrics } from "../metrics.js";
import { bearerToken } from "../tokens.js";
import { AgentSession, type SessionContext } from "./agent-session.js";
import { StoreWriter } from "./store-writer.js";
import { RejectionHistory } from "./rejection-history.js";
import { recordHostEvent } from "./host-events.js";
import { checkHandshake } from "./handshake.js";
import { refuseOnSocket } from "../http/socket-refusal.js";
import type { AgentCalls } from "./agent-calls.js";
import { SessionLimit, type SessionLimitOptions } from "./session-limit.js";

export interface HubOptions {
  store: Store;
  metrics: ControllerMetrics;
  log: Logger;
  heartbeatSeconds: number;
  inventoryIntervalSeconds: number;
  maxMessageBytes: number;
  /** At most one `rejected` history row per host per this many seconds (see rejection-history.ts). */
  rejectedEventIntervalSeconds: number;
  calls: AgentCalls;
  /** Sessions per host per interval (see session-limit.ts). */
  sessionLimit: SessionLimitOptions;
  /** A socket that became an agent's session (the listener stops counting it against its address). */
  onAccepted?(socket: Duplex): void;
  /** The netconsole.listen UDP port, told to agents in welcome; null when not listening. */
  netconsolePort?(): number | null;
}

export const AGENT_PATH = "/v1/agent";

export class AgentHub {
  readonly writer: StoreWriter;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<number, AgentSession>();
  /** Hosts whose upgrade is under way: a second attempt meanwhile is a duplicate too. */
  private readonly upgrading = new Set<number>();
  private readonly lastSeenAt = new Map<number, number>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly ctx: SessionContext;
  private readonly rejections: RejectionHistory;
  private readonly limited: RejectionHistory;
  private readonly sessionLimit: SessionLimit;

  constructor(private readonly opts: HubOptions) {
    this.writer = new StoreWriter(opts.store);
    this.rejections = new RejectionHistory(opts.store, opts.rejectedEventIntervalSeconds * 1000, opts.log, "duplicate agent");
    this.limited = new RejectionHistory(opts.store, opts.rejectedEventIntervalSeconds * 1000, opts.log, "too many sessions");
    this.sessionLimit = new SessionLimit(opts.sessionLimit);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, clientTracking: false });
    // What checkHandshake does not look at (e.g. a malformed Sec-WebSocket-Protocol) ws reports here instead of answering in HTML.
    this.wss.on("wsClientError", (err, socket) => {
      opts.metrics.agentConnections.inc({ result: "bad-handshake" });
      refuseOnSocket(socket, "NS_ERR_BAD_HANDSHAKE", `invalid WebSocket handshake: ${err.message}`);
    });
    this.ctx = {
      store: opts.store, writer: this.writer, metrics: opts.metrics, log: opts.log,
      inventoryIntervalSeconds: opts.inventoryIntervalSeconds, heartbeatSeconds: opts.heartbeatSeconds,
      calls: opts.calls,
      netconsolePort: () => opts.netconsolePort?.() ?? null,
      touch: (hostId) => this.lastSeenAt.set(hostId, Date.now()),
    };
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatSeconds * 1000);
    this.heartbeat.unref();
  }

  connectedAgents(): number {
    return this.sessions.size;
  }

  isConnected(hostId: number): boolean {
    return this.sessions.has(hostId);
  }

  lastSeen(hostId: number): number | undefined {
    return this.lastSeenAt.get(hostId);
  }

  /** Every host's last sign of life seen by this process, for the liveness loop to persist. */
  lastSeenEntries(): IterableIterator<[number, number]> {
    return this.lastSeenAt.entries();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { log, store, metrics } = this.opts;
    const remote = req.socket.remoteAddress;
    const broken = checkHandshake(req);
    if (broken) {
      metrics.agentConnections.inc({ result: "bad-handshake" });
      log.warn({ remote, code: broken.code }, `agent connection refused: ${broken.message}`);
      refuseOnSocket(socket, broken.code, broken.message, broken.headers);
      return;
    }
    const token = bearerToken(req.headers.authorization);
    const host = token ? store.hosts.findByToken(token) : undefined;
    if (!host) {
      metrics.agentConnections.inc({ result: "unauthorized" });
      log.warn({ remote }, "agent connection refused: missing, unknown or revoked host token");
      refuseOnSocket(socket, "NS_ERR_UNAUTHORIZED",
        "unknown or revoked host token: enroll the host with `nightshift hosts enroll NAME` and put the token in the agent's token file");
      return;
    }
    if (this.sessions.has(host.id) || this.upgrading.has(host.id)) {
      const current = this.sessions.get(host.id);
      metrics.agentConnections.inc({ result: "duplicate" });
      log.warn({ host: host.name, remote, existing: current?.remoteAddr }, "second agent for a host refused");
      this.rejections.record(host.id, { remote: remote ?? null, existing: current?.remoteAddr ?? null });
      refuseOnSocket(socket, "NS_ERR_DUPLICATE_HOST",
        `host '${host.name}' already has a live agent${current?.remoteAddr ? ` connected from ${current.remoteAddr}` : ""}: ` +
        `two agents must not share one host token`);
      return;
    }
    const waitMs = this.sessionLimit.waitFor(host.id);
    if (waitMs > 0) {
      const { max, intervalMs } = this.opts.sessionLimit;
      const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
      metrics.agentConnections.inc({ result: "rate-limited" });
      log.warn({ host: host.name, remote, retryAfter }, "agent connection refused: too many sessions");
      this.limited.record(host.id, { remote: remote ?? null, existing: null });
      refuseOnSocket(socket, "NS_ERR_TOO_MANY_SESSIONS",
        `host '${host.name}' opened ${max} sessions in the last ${intervalMs / 1000} s (agents.maxSessions): ` +
        `retry in ${retryAfter} s; an agent that keeps reconnecting should be looked at (its log says why its sessions end)`,
        { "Retry-After": String(retryAfter) });
      return;
    }
    // The mark must go whatever becomes of this attempt: ws may still abort it (and then never
    // calls back), or the client may hang up first; the socket closes in every such case.
    this.upgrading.add(host.id);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.upgrading.delete(host.id);
      socket.off("close", release);
    };
    socket.once("close", release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      release();
      this.sessionLimit.opened(host.id);
      this.opts.onAccepted?.(socket);
      this.accept(ws, host.id, remote);
    });
  }

  private accept(ws: WebSocket, hostId: number, remote: string | undefined): void {
    const { store, log, metrics } = this.opts;
    const host = store.hosts.findById(hostId);
    if (!host || host.status === "revoked") {
      ws.close(4401, "host revoked");
      return;
    }
    const id = randomUUID();
    const now = Date.now();
    const session = new AgentSession(id, host, ws, remote, this.ctx);
    this.sessions.set(host.id, session);
    this.ctx.touch(host.id);
    metrics.agentConnections.inc({ result: "accepted" });
    store.transaction(() => {
      store.sessions.open(id, host.id, remote, now);
      recordHostEvent(store, host.id, "connected", now, { session: id, remote: remote ?? null });
    });
    log.info({ host: host.name, session: id, remote }, "agent connected");

    ws.on("message", (data, isBinary) => session.receive(data, isBinary));
    ws.on("pong", () => {
      session.alive = true;
      this.ctx.touch(host.id);
    });
    ws.on("error", (err: Error & { code?: string }) => {
      // ws closes the socket itself after these (1009 for an oversized frame).
      const kind = err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "oversized" : "websocket";
      metrics.messageErrors.inc({ kind });
      log.warn({ host: host.name, session: id, code: err.code }, `agent connection error: ${err.message}`);
    });
    ws.on("close", (code, reasonBuf) => {
      const reason = `${code}${reasonBuf.length ? ` ${reasonBuf.toString()}` : ""}`;
      if (this.sessions.get(host.id) === session) this.sessions.delete(host.id);
      this.opts.calls.sessionEnded(host.id, session);
      const at = Date.now();
      try {
        store.transaction(() => {
          store.sessions.close(id, reason, at);
          recordHostEvent(store, host.id, "disconnected", at, { session: id, code, reason: reasonBuf.toString() || null });
        });
      } catch (err) {
        log.error({ err, host: host.name }, "recording the disconnect failed");
      }
      log.info({ host: host.name, session: id, code }, "agent disconnected");
    });
  }

  /** Closes the live session of a host, if any (used when its token is revoked). */
  disconnect(hostId: number, code: number, reason: string): void {
    this.sessions.get(hostId)?.ws.close(code, reason);
  }

  private beat(): void {
    for (const session of this.sessions.values()) {
      if (!session.alive) {
        this.opts.log.warn({ host: session.host.name, session: session.id }, "agent missed a heartbeat: terminating the connection");
        session.ws.terminate();
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const session of this.sessions.values()) session.ws.close(1001, "controller shutting down");
    const deadline = Date.now() + 2_000;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const session of this.sessions.values()) session.ws.terminate();
    this.rejections.flush();
    this.limited.flush();
    this.writer.flush();
  }
}
