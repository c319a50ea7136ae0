/**
 * The controller's one HTTP(S) server and what guards it against its
 * clients: connection caps (connection-gate.ts), pipelined requests answered
 * one at a time (request-queue.ts), a TLS handshake deadline, and an answer
 * with an NS_ERR code for what the HTTP parser refuses or Node would drop
 * silently (CONNECT).
 */
import http from "node:http";
import https from "node:https";
import fs from "node:fs";
import type { Duplex } from "node:stream";
import type { ControllerConfig } from "../config.js";
import type { ControllerMetrics } from "../metrics.js";
import type { Logger } from "../../shared/logging.js";
import { NightshiftError } from "../../shared/errors.js";
import { ConnectionGate } from "./connection-gate.js";
import { RequestQueue, type RequestHandler } from "./request-queue.js";
import { answerClientError } from "./client-errors.js";
import { refuseOnSocket } from "./socket-refusal.js";
import { connectionCap, openFileLimit } from "./fd-limit.js";

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface Listener {
  server: http.Server | https.Server;
  gate: ConnectionGate;
}

/** How long a connection refused for pipelining may keep its unread 429s. */
const PIPELINE_REFUSAL_GRACE_MS = 2_000;

export function createListener(config: ControllerConfig, metrics: ControllerMetrics, log: Logger,
  onRequest: RequestHandler, onUpgrade: UpgradeHandler): Listener {
  const useTls = Boolean(config.tls.cert || config.tls.key);
  if (useTls && (!config.tls.cert || !config.tls.key)) throw new NightshiftError("NS_ERR_CONFIG", "TLS needs both tls.cert and tls.key");
  const fdLimit = openFileLimit();
  const gate = new ConnectionGate({
    maxConnections: connectionCap(config.http.maxConnections, fdLimit),
    maxConnectionsPerClient: config.http.maxConnectionsPerClient,
    ...(useTls ? { maxTlsHandshakes: config.http.maxTlsHandshakes } : {}),
    onRefused: (reason, client) => {
      metrics.connectionsRefused.inc({ reason });
      log.debug({ client, reason }, "connection refused");
    },
  });
  const queue = new RequestQueue(onRequest, {
    maxQueued: config.http.maxPipelinedRequests, refusedGraceMs: PIPELINE_REFUSAL_GRACE_MS,
    onRefused: () => metrics.connectionsRefused.inc({ reason: "pipelining" }),
  });
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (gate.refused(req.socket)) return;
    queue.push(req, res);
  };
  const server = useTls
    ? https.createServer({
      cert: fs.readFileSync(config.tls.cert!), key: fs.readFileSync(config.tls.key!), handshakeTimeout: config.http.tlsHandshakeTimeout,
    }, serve)
    : http.createServer(serve);
  gate.attach(server);
  metrics.watchConnections(() => gate.connections);
  log.info({ fdLimit, maxConnections: connectionCap(config.http.maxConnections, fdLimit),
    maxConnectionsPerClient: config.http.maxConnectionsPerClient }, "connection limits");

  // Sockets through their TLS handshake; a client error on any other TLS socket came before one.
  const secured = new WeakSet<Duplex>();
  if (useTls) server.on("secureConnection", (socket: Duplex) => secured.add(socket));
  server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
    if (useTls && !secured.has(socket)) {
      // Nothing written can be read before a handshake (plain text would be written into the TLS stream): just close.
      if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") metrics.connectionsRefused.inc({ reason: "tls-handshake-timeout" });
      socket.destroy();
      return;
    }
    answerClientError(err, socket, log);
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    if (gate.refused(socket)) {
      socket.destroy();
      return;
    }
    onUpgrade(req, socket, head);
  });
  // Without a listener Node closes a CONNECT's socket without a word; this server is no proxy.
  server.on("connect", (req: http.IncomingMessage, socket: Duplex) => {
    socket.on("error", () => {});
    refuseOnSocket(socket, "NS_ERR_METHOD", `CONNECT is not allowed: the controller is not a proxy (${String(req.url).slice(0, 200)})`,
      { Allow: "GET, POST, PUT, DELETE" });
  });
  return { server, gate };
}
