/**
 * Keeps one connection to libvirtd with a domain-event subscription. When the
 * connection drops (libvirtd restarted, socket gone) it reconnects with
 * backoff and subscribes again; the owner is told, so that it can take a full
 * inventory: events raised while we were away are gone for good.
 */
import { LibvirtConnection, type DomainEventSubscription } from "../libvirt/connection.js";
import type { DomainEvent } from "../libvirt/events.js";
import { inventoryDomains, type DomainInventory } from "../inventory/domains.js";
import { ConnectionInterruptedError, LibvirtConnectError } from "../libvirt/errors.js";
import { resolveUri } from "../libvirt/uri.js";
import type { Logger } from "../../shared/logging.js";
import { errorCodeOf, errorMessage } from "../../shared/errors.js";
import { Backoff, type BackoffOptions } from "./backoff.js";

export interface LibvirtInfo {
  uri: string;
  hostname: string;
  libvirtVersion: string;
}

export interface LibvirtSessionHandlers {
  /** Each event as it arrives, synchronously, in libvirt's order. */
  onEvent(event: DomainEvent): void;
  /** Connected and subscribed; `reconnected` is false the first time. */
  onConnected(info: LibvirtInfo, reconnected: boolean): void;
  onDisconnected(reason: Error): void;
  /** Waiting before the next attempt. */
  onRetry?(delayMs: number, err: Error): void;
  /**
   * A connect attempt has been under way for `slowAttemptMs` (libvirtd
   * accepted the connection but does not answer); the attempt goes on.
   */
  onSlowAttempt?(err: Error): void;
}

export interface LibvirtSessionOptions {
  uri: string;
  socketPath?: string | undefined;
  backoff: BackoffOptions;
  logger: Logger;
  handlers: LibvirtSessionHandlers;
  /** When an attempt under way is reported with onSlowAttempt (default 10 s). */
  slowAttemptMs?: number;
}

export class LibvirtSession {
  private conn: LibvirtConnection | null = null;
  private subscription: DomainEventSubscription | null = null;
  private currentInfo: LibvirtInfo | null = null;
  private readonly backoff: Backoff;
  private stopping = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private sessions = 0;
  private attemptStartedAt: number | null = null;

  constructor(private readonly options: LibvirtSessionOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  get connected(): boolean {
    return this.conn !== null && !this.conn.isClosed;
  }

  /** The live connection, for probes that read libvirt; null while reconnecting. */
  get connection(): LibvirtConnection | null {
    return this.connected ? this.conn : null;
  }

  /**
   * How long the connect attempt under way has been running (0 between
   * attempts and while connected): the dial gives up after 5 s, but a daemon
   * that accepts and never answers holds an attempt for as long as it lives.
   */
  attemptAgeMs(now = Date.now()): number {
    return this.attemptStartedAt === null ? 0 : now - this.attemptStartedAt;
  }

  /** What the last successful connection reported (kept while reconnecting). */
  get info(): LibvirtInfo | null {
    return this.currentInfo;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A full inventory over the current connection. */
  async inventory(): Promise<DomainInventory[]> {
    if (!this.conn || this.conn.isClosed) throw new ConnectionInterruptedError("not connected to libvirtd (reconnecting)");
    return inventoryDomains(this.conn);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const conn = this.conn;
    const subscription = this.subscription;
    if (subscription) await subscription.close().catch(() => {});
    if (conn) await conn.connectClose().catch(() => {});
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger, handlers } = this.options;
    while (!this.stopping) {
      let conn: LibvirtConnection | null = null;
      this.attemptStartedAt = Date.now();
      const slowMs = this.options.slowAttemptMs ?? 10_000;
      const slow = setTimeout(() => {
        const socket = this.socketPath();
        handlers.onSlowAttempt?.(new LibvirtConnectError("NS_ERR_LIBVIRT_UNREACHABLE", socket,
          `libvirtd on socket ${socket} has not answered for ${formatDelay(slowMs)} (still waiting)`));
      }, slowMs);
      try {
        conn = await LibvirtConnection.open({ uri: this.options.uri, ...(this.options.socketPath ? { socketPath: this.options.socketPath } : {}) });
        const [version, hostname] = await Promise.all([conn.connectGetLibVersion(), conn.connectGetHostname()]);
        this.subscription = await conn.domainEvents();
        this.currentInfo = { uri: this.options.uri, hostname, libvirtVersion: version.text };
      } catch (err) {
        clearTimeout(slow);
        await conn?.connectClose().catch(() => {});
        this.attemptStartedAt = null;
        if (this.stopping) break;
        const delay = this.backoff.next();
        const error = err instanceof Error ? err : new Error(String(err));
        logger.error({ code: errorCodeOf(err, "NS_ERR_LIBVIRT"), uri: this.options.uri, retryInMs: delay },
          `cannot connect to libvirtd: ${errorMessage(err)}; retrying in ${formatDelay(delay)}`);
        handlers.onRetry?.(delay, error);
        await this.sleep(delay);
        continue;
      }
      clearTimeout(slow);
      this.attemptStartedAt = null;
      const info = this.currentInfo;
      const subscription = this.subscription;
      if (this.stopping) {
        await subscription.close().catch(() => {});
        await conn.connectClose().catch(() => {});
        break;
      }
      this.conn = conn;
      this.backoff.reset();
      const reconnected = this.sessions++ > 0;
      logger.info({ uri: info.uri, libvirtVersion: info.libvirtVersion, hostname: info.hostname, reconnected },
        "connected to libvirtd and subscribed to domain events");
      handlers.onConnected(info, reconnected);
      const events = subscription.events;
      for await (const event of events) handlers.onEvent(event);
      this.conn = null;
      this.subscription = null;
      if (this.stopping) break;
      const reason = events.reason ?? new ConnectionInterruptedError("event stream ended");
      if (events.dropped > 0) logger.warn({ dropped: events.dropped }, "libvirt event buffer overflowed; the next inventory corrects the state");
      logger.error({ code: errorCodeOf(reason, "NS_ERR_LIBVIRT_INTERRUPTED") },
        `lost the connection to libvirtd: ${reason.message}; reconnecting`);
      handlers.onDisconnected(reason);
      await conn.connectClose().catch(() => {});
      const delay = this.backoff.next();
      handlers.onRetry?.(delay, reason);
      await this.sleep(delay);
    }
  }

  /** The socket this session dials, for messages. */
  private socketPath(): string {
    try {
      return resolveUri(this.options.uri, this.options.socketPath).socketPath;
    } catch {
      return this.options.socketPath ?? "the libvirt socket";
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

export function formatDelay(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
