/**
 * The agent's end of the controller link: one WebSocket at a time, opened
 * with the host token as a bearer token, `hello` -> `welcome`, pings every
 * heartbeat period, and reconnection with exponential backoff and full jitter.
 *
 * - A peer that sent nothing (not even a pong) for two heartbeat periods is
 *   terminate()d at once: a half-open TCP connection would otherwise hold a
 *   close handshake for minutes.
 * - 401 (bad token) and 409 (another agent for this host is live) cannot be
 *   fixed by retrying soon: they are logged clearly and retried at the maximum
 *   delay. The token file is read again before every attempt, so a re-enrolled
 *   host recovers without a restart.
 * - The backoff resets once a session was welcomed.
 * - The welcome's inventory interval and heartbeat are held to this agent's
 *   own bounds (welcome-bounds.ts): a controller can be stolen.
 * - `step` requests go to handlers.onStep; one the agent cannot read (a newer
 *   controller's action kind, a bad value) but that names an id goes to
 *   onInvalidStep, so the controller gets an answer instead of waiting for one.
 *   A frame refused before JSON.parse (json-shape.ts) is never parsed for its
 *   id: no honest controller sends one, and parsing it is what the check prevents.
 */
import { describeConnectFailure } from "../../shared/connect-errors.js";
import fs from "node:fs";
import WebSocket from "ws";
import type { Logger } from "../../shared/logging.js";
import { errorMessage, type ErrorCode } from "../../shared/errors.js";
import { parseControllerMessage, encodeMessage } from "../../shared/protocol/codec.js";
import { MAX_MESSAGE_BYTES, type AgentMessage, type Hello, type StepRequest, type Welcome } from "../../shared/protocol/messages.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { ControllerRejectedError, DaemonError } from "./errors.js";
import { formatDelay } from "./libvirt-session.js";
import { boundedWelcome } from "./welcome-bounds.js";

/** What `send` accepts: any agent message, without the version (the codec adds it). */
export type OutgoingMessage = AgentMessage extends infer M ? (M extends AgentMessage ? Omit<M, "v"> : never) : never;

export interface ControllerSession {
  readonly welcome: Welcome;
  /** The TCP connection's own and the controller's address (netconsole is pointed along it); null if unknown. */
  readonly addresses?: { local: string; remote: string } | null;
  /** False when the socket is no longer open; the message is then simply not sent. */
  send(message: OutgoingMessage): boolean;
}

export interface ControllerLinkHandlers {
  onSession(session: ControllerSession): void;
  onSessionEnd(): void;
  onAck(ids: string[]): void;
  /** A maintenance step; answered later with `step-result` on whichever session is current then. Must not throw. */
  onStep?(request: StepRequest): void;
  /** A `step` frame that failed validation but names an id: `detail` says what is wrong with it. */
  onInvalidStep?(id: string, detail: string): void;
  /** Human-readable state for STATUS= lines. */
  onStatus?(text: string): void;
  /** After an attempt that ended without a session (refused, unreachable). */
  onAttemptFailed?(err: Error): void;
}

export interface ControllerLinkOptions {
  url: string;
  tokenFile: string;
  /** Builds the hello for each connection (libvirt's details may change between them). */
  hello(): Omit<Hello, "v">;
  /** Ping period until the controller's welcome names its own. */
  heartbeatSeconds: number;
  reconnect: BackoffOptions;
  caFile?: string | undefined;
  logger: Logger;
  handlers: ControllerLinkHandlers;
  /** How long a connected controller may take to answer hello (default 10 s). */
  welcomeTimeoutMs?: number;
}

const MAX_REJECTION_BODY = 8 * 1024;

export function readToken(tokenFile: string): string {
  let token: string;
  try {
    token = fs.readFileSync(tokenFile, "utf8").trim();
  } catch (err) {
    throw new DaemonError("NS_ERR_AGENT_TOKEN", `cannot read the token file ${tokenFile}: ${errorMessage(err)}; ` +
      "enroll the host with `nightshift hosts enroll` and put its token there", { cause: err });
  }
  if (!token) throw new DaemonError("NS_ERR_AGENT_TOKEN", `the token file ${tokenFile} is empty`);
  return token;
}

/**
 * The id of a `step` frame that failed validation, if it has a usable one: read from what the codec
 * parsed. A frame refused before JSON.parse (too deep, too wide, not JSON) has none and is not
 * parsed here either: a deeply nested 4 MiB frame builds a graph of hundreds of MB.
 */
function invalidStepId(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return null;
  const { type, id } = value as { type?: unknown; id?: unknown };
  return type === "step" && typeof id === "string" && id.length > 0 && id.length <= 200 ? id : null;
}

export class ControllerLink {
  private readonly backoff: Backoff;
  private ws: WebSocket | null = null;
  private session: ControllerSession | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private attemptCount = 0;

  constructor(private readonly options: ControllerLinkOptions) {
    this.backoff = new Backoff(options.reconnect);
  }

  /** Connection attempts so far (tests and logs). */
  get attempts(): number {
    return this.attemptCount;
  }

  get connected(): boolean {
    return this.session !== null;
  }

  start(): void {
    if (!this.ws && !this.reconnectTimer && !this.stopping) this.connect();
  }

  /** Closes the link with 1001 (going away) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { ws.terminate(); resolve(); }, 2_000);
      ws.once("close", () => { clearTimeout(timer); resolve(); });
      if (ws.readyState === WebSocket.OPEN) ws.close(1001, "agent shutting down");
      else ws.terminate();
    });
  }

  private status(text: string): void {
    this.options.handlers.onStatus?.(text);
  }

  private connect(): void {
    const { logger, url, handlers } = this.options;
    this.reconnectTimer = null;
    this.attemptCount++;
    let token: string;
    try {
      token = readToken(this.options.tokenFile);
    } catch (err) {
      const error = err as DaemonError;
      logger.error({ code: error.code }, error.message);
      handlers.onAttemptFailed?.(error);
      this.scheduleReconnect(this.backoff.nextAtMax(), `token file unusable`);
      return;
    }
    this.status(`connecting to controller ${url}`);
    logger.debug({ url, attempt: this.attemptCount }, "connecting to the controller");

    let ca: Buffer | undefined;
    if (this.options.caFile) {
      try {
        ca = fs.readFileSync(this.options.caFile);
      } catch (err) {
        logger.error({ code: "NS_ERR_CONFIG" satisfies ErrorCode, caFile: this.options.caFile }, `cannot read tls.caFile: ${errorMessage(err)}`);
      }
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        headers: { Authorization: `Bearer ${token}` },
        maxPayload: MAX_MESSAGE_BYTES,
        handshakeTimeout: 10_000,
        perMessageDeflate: false,
        ...(ca ? { ca } : {}),
      });
    } catch (err) {
      const error = new DaemonError("NS_ERR_CONTROLLER_UNREACHABLE", `cannot connect to controller ${url}: ${errorMessage(err)}`, { cause: err });
      const delay = this.backoff.nextAtMax();
      logger.error({ code: error.code, retryInMs: delay }, `${error.message}; retrying in ${formatDelay(delay)}`);
      handlers.onAttemptFailed?.(error);
      this.scheduleReconnect(delay, "controller URL unusable");
      return;
    }
    this.ws = ws;
    let addresses: { local: string; remote: string } | null = null;
    ws.on("upgrade", (res) => {
      const { localAddress, remoteAddress } = res.socket;
      if (localAddress && remoteAddress) addresses = { local: localAddress, remote: remoteAddress };
    });

    let heartbeatMs = this.options.heartbeatSeconds * 1000;
    let lastSeen = Date.now();
    let lastPing = 0;
    let rejection: ControllerRejectedError | null = null;
    let failure: Error | null = null;
    let session: ControllerSession | null = null;
    let welcomeTimer: NodeJS.Timeout | null = null;
    let heartbeatTimer: NodeJS.Timeout | null = null;
    let hello: Omit<Hello, "v"> | null = null;

    // A failing step handler must not take the connection's message loop down with it.
    const guard = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        logger.error({ code: "NS_ERR_STEP_FAILED" satisfies ErrorCode, handler: what }, `step handler failed: ${errorMessage(err)}`);
      }
    };

    const heartbeat = () => {
      const now = Date.now();
      if (now - lastSeen > 2 * heartbeatMs) {
        const dead = new DaemonError("NS_ERR_CONTROLLER_DEAD",
          `controller ${url} sent nothing for ${((now - lastSeen) / 1000).toFixed(1)} s (no pong for two heartbeat periods of ${heartbeatMs / 1000} s); terminated the connection`);
        failure = dead;
        ws.terminate();
        return;
      }
      if (now - lastPing >= heartbeatMs && ws.readyState === WebSocket.OPEN) {
        lastPing = now;
        ws.ping();
      }
    };
    const startHeartbeat = () => {
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      // Checked four times a period so a dead peer is cut off close to the two-period mark.
      heartbeatTimer = setInterval(heartbeat, Math.max(25, heartbeatMs / 4));
    };

    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        if (size < MAX_REJECTION_BODY) chunks.push(chunk);
        size += chunk.length;
      });
      const finish = () => {
        if (rejection) return;
        const body = Buffer.concat(chunks).toString("utf8").slice(0, MAX_REJECTION_BODY);
        let code: string | null = null;
        let message = body.trim();
        try {
          const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
          if (typeof parsed.error?.code === "string") code = parsed.error.code;
          if (typeof parsed.error?.message === "string") message = parsed.error.message;
        } catch {
          // Not the controller's JSON (a proxy's HTML page): keep the text.
        }
        rejection = new ControllerRejectedError(res.statusCode ?? 0, code, message, url);
        ws.terminate();
      };
      res.on("end", finish);
      res.on("error", finish);
      res.on("close", finish);
    });

    ws.on("open", () => {
      lastSeen = Date.now();
      startHeartbeat();
      welcomeTimer = setTimeout(() => {
        const silent = new DaemonError("NS_ERR_CONTROLLER_PROTOCOL", `controller ${url} did not answer hello with welcome within ${(this.options.welcomeTimeoutMs ?? 10_000) / 1000} s`);
        failure = silent;
        ws.close(1002, "no welcome");
      }, this.options.welcomeTimeoutMs ?? 10_000);
      hello = this.options.hello();
      ws.send(encodeMessage(hello));
    });

    ws.on("pong", () => { lastSeen = Date.now(); });
    ws.on("ping", () => { lastSeen = Date.now(); });

    ws.on("message", (data, isBinary) => {
      lastSeen = Date.now();
      if (isBinary) {
        logger.warn({ code: "NS_ERR_CONTROLLER_PROTOCOL" satisfies ErrorCode }, "controller sent a binary frame; ignored");
        return;
      }
      const text = data.toString();
      const parsed = parseControllerMessage(text);
      if (!parsed.ok) {
        logger.warn({ code: "NS_ERR_CONTROLLER_PROTOCOL" satisfies ErrorCode, kind: parsed.kind }, `controller sent an unusable frame: ${parsed.detail}`);
        const stepId = invalidStepId(parsed.value);
        if (stepId !== null) guard("onInvalidStep", () => handlers.onInvalidStep?.(stepId, parsed.detail));
        return;
      }
      const message = parsed.message;
      switch (message.type) {
        case "welcome": {
          if (session) {
            logger.warn({ code: "NS_ERR_CONTROLLER_PROTOCOL" satisfies ErrorCode }, "controller sent a second welcome; ignored");
            return;
          }
          if (welcomeTimer) clearTimeout(welcomeTimer);
          welcomeTimer = null;
          const { welcome, clamped } = boundedWelcome(message);
          for (const c of clamped) {
            logger.warn({ code: "NS_ERR_CONTROLLER_WELCOME_BOUNDS", field: c.field, asked: c.asked, used: c.used, min: c.min, max: c.max },
              `the controller's welcome asked for ${c.field} ${c.asked}; this agent takes ${c.min} to ${c.max} and uses ${c.used}`);
          }
          heartbeatMs = welcome.heartbeatSeconds * 1000;
          startHeartbeat();
          this.backoff.reset();
          if (hello && message.host !== hello.host) {
            logger.warn({ code: "NS_ERR_CONTROLLER_PROTOCOL" satisfies ErrorCode, sent: hello.host, welcomed: message.host },
              "the controller welcomed us under another host name than the one in hello");
          }
          session = {
            welcome,
            addresses,
            send: (m) => {
              if (ws.readyState !== WebSocket.OPEN) return false;
              ws.send(encodeMessage(m));
              return true;
            },
          };
          this.session = session;
          logger.info({ url, sessionId: welcome.sessionId, host: welcome.host, heartbeatSeconds: welcome.heartbeatSeconds,
            inventoryIntervalSeconds: welcome.inventoryIntervalSeconds }, "connected to the controller");
          this.status(`connected to controller ${url}`);
          handlers.onSession(session);
          return;
        }
        case "ack":
          handlers.onAck(message.ids);
          return;
        case "step":
          guard("onStep", () => handlers.onStep?.(message));
          return;
        case "error":
          logger.warn({ code: "NS_ERR_CONTROLLER_PROTOCOL" satisfies ErrorCode, controllerCode: message.code }, `controller reported an error: ${message.message}`);
          return;
      }
    });

    ws.on("error", (err) => {
      failure ??= err;
    });

    ws.on("close", (code, reasonBuffer) => {
      if (welcomeTimer) clearTimeout(welcomeTimer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      this.ws = null;
      const hadSession = session !== null;
      if (hadSession) {
        this.session = null;
        handlers.onSessionEnd();
      }
      if (this.stopping) return;
      const reason = reasonBuffer.toString();
      let delay: number;
      let why: string;
      if (rejection) {
        delay = this.backoff.nextAtMax();
        logger.error({ code: rejection.code, status: rejection.status, controllerCode: rejection.errorCode, retryInMs: delay },
          `${rejection.message}; retrying in ${formatDelay(delay)}`);
        why = `controller refused us (HTTP ${rejection.status})`;
        handlers.onAttemptFailed?.(rejection);
      } else {
        delay = this.backoff.next();
        const detail = failure ? describeConnectFailure((failure as NodeJS.ErrnoException).code, failure.message,
          { plainScheme: "ws", caHint: "set tls.caFile to that CA's PEM file" })
          : `closed with code ${code}${reason ? ` (${reason})` : ""}`;
        const err = failure instanceof DaemonError ? failure
          : new DaemonError("NS_ERR_CONTROLLER_UNREACHABLE", `controller ${url} ${hadSession ? "connection lost" : "unreachable"}: ${detail}`);
        const log = hadSession && !(failure instanceof DaemonError) ? logger.warn.bind(logger) : logger.error.bind(logger);
        log({ code: err.code, closeCode: code, retryInMs: delay }, `${err.message}; reconnecting in ${formatDelay(delay)}`);
        why = hadSession ? "controller connection lost" : "controller unreachable";
        if (!hadSession) handlers.onAttemptFailed?.(err);
      }
      this.scheduleReconnect(delay, why);
    });
  }

  private scheduleReconnect(delay: number, why: string): void {
    if (this.stopping) return;
    this.status(`${why}, retrying in ${Math.ceil(delay / 1000)} s`);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
