/**
 * What the agent tells the controller: a full inventory when a session starts,
 * on a jittered interval (the welcome's, +-20%) and whenever libvirt connects
 * (a session may start while libvirt is unreachable: its inventory follows);
 * every libvirt event the moment it arrives — spooled first, then sent — and
 * everything still unacked in the spool again at the start of each session.
 *
 * Loss reports (spool overflow) go out as `events-lost` at the start of a
 * session and at most once a second while the spool overflows during one.
 * Downtime reports (the agent was not running) go out as `agent-down` at the
 * start of each session until acked.
 *
 * At most IN_FLIGHT_WINDOW events are on the wire unacked; the rest wait in
 * the spool and follow as acks come in, so a long outage does not become one
 * burst of a hundred thousand events.
 */
import {
  MAX_DISKS_PER_DOMAIN, MAX_DOMAINS_PER_INVENTORY, MAX_EVENTS_PER_BATCH, type Domain, type DomainEventMessage,
} from "../../shared/protocol/messages.js";
import type { Logger } from "../../shared/logging.js";
import { errorCodeOf, errorMessage, type ErrorCode } from "../../shared/errors.js";
import type { DomainEvent } from "../libvirt/events.js";
import type { DomainInventory } from "../inventory/domains.js";
import type { ControllerSession } from "./controller-link.js";
import type { Spool } from "./spool.js";
import { jitter, type Random } from "./backoff.js";
import { toEventMessage } from "./event-message.js";
import { toInventoryDomain } from "./inventory-message.js";

export const IN_FLIGHT_WINDOW = 4 * MAX_EVENTS_PER_BATCH;
export const INVENTORY_JITTER = 0.2;
export const LOSS_REPORT_INTERVAL_MS = 1_000;

export interface ReporterOptions {
  spool: Spool;
  inventory(): Promise<DomainInventory[]>;
  /** Whether `inventory()` can work right now (libvirt connected). */
  canInventory(): boolean;
  logger: Logger;
  random?: Random;
  /** Called with the number of spooled events whenever it may have changed. */
  onSpoolChange?(events: number): void;
}

export class Reporter {
  private session: ControllerSession | null = null;
  private inventoryTimer: NodeJS.Timeout | null = null;
  /** Event ids sent in this session and not yet acked. */
  private readonly inFlight = new Set<string>();
  /** Loss and downtime reports sent in this session (they stay in the spool until acked). */
  private readonly lossesSent = new Set<string>();
  private lossTimer: NodeJS.Timeout | null = null;
  /** Spool position up to which this session has sent everything. */
  private sentUpTo = 0;
  private stopped = false;
  private inventoryRunning: Promise<void> | null = null;
  private inventoriesSent = 0;
  /** The VMs whose disk lists were last cut, so the warning is logged when that changes, not every interval. */
  private truncatedKey = "";

  constructor(private readonly options: ReporterOptions) {}

  get inventoryCount(): number {
    return this.inventoriesSent;
  }

  // --- from the controller link ---------------------------------------------

  /** Starts a session; the promise settles once its first inventory was attempted. */
  sessionStarted(session: ControllerSession): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.session = session;
    this.inFlight.clear();
    this.lossesSent.clear();
    this.sentUpTo = 0;
    const pending = this.options.spool.size;
    if (pending > 0) this.options.logger.info({ entries: pending }, "re-sending unacked spooled events");
    this.sendLosses();
    this.pump();
    const first = this.sendInventory("session start");
    this.scheduleInventory();
    return first;
  }

  sessionEnded(): void {
    this.session = null;
    this.inFlight.clear();
    this.lossesSent.clear();
    if (this.lossTimer) clearTimeout(this.lossTimer);
    this.lossTimer = null;
    if (this.inventoryTimer) clearTimeout(this.inventoryTimer);
    this.inventoryTimer = null;
  }

  acked(ids: string[]): void {
    for (const id of ids) {
      this.inFlight.delete(id);
      this.lossesSent.delete(id);
    }
    try {
      this.options.spool.ack(ids);
    } catch (err) {
      this.logError(err, "cannot record acks in the spool; the events will be sent again");
    }
    this.options.onSpoolChange?.(this.options.spool.stats.events);
    this.pump();
  }

  // --- from libvirt -----------------------------------------------------------

  libvirtEvent(event: DomainEvent): void {
    const message = toEventMessage(event);
    try {
      const dropped = this.options.spool.append(message);
      if (dropped > 0) {
        this.options.logger.warn({ code: "NS_ERR_SPOOL_OVERFLOW" satisfies ErrorCode, dropped, droppedTotal: this.options.spool.stats.droppedTotal },
          "spool full (spool.maxEvents): dropped the oldest events; an events-lost report will tell the controller");
        this.scheduleLossReport();
      }
    } catch (err) {
      // Not durable, but still worth sending: the controller may take it now.
      this.logError(err, `cannot spool event ${message.id}; sending it without a durable copy`);
      this.session?.send({ type: "events", events: [message] });
      return;
    }
    this.options.onSpoolChange?.(this.options.spool.stats.events);
    this.pump();
  }

  /** libvirt (re)connected: a fresh inventory, since events of the time it was away are gone. */
  libvirtConnected(): void {
    if (this.session) void this.sendInventory("libvirt connected");
  }

  /** Stops the inventory timer; nothing more is sent. */
  stop(): void {
    this.stopped = true;
    this.sessionEnded();
  }

  /** Resolves when a running inventory has finished (shutdown waits for it). */
  async settled(): Promise<void> {
    await this.inventoryRunning;
  }

  // --- internals --------------------------------------------------------------

  /** Sends spooled events after `sentUpTo`, in order, while the window has room. */
  private pump(): void {
    const session = this.session;
    if (!session || this.stopped) return;
    const spool = this.options.spool;
    while (this.inFlight.size < IN_FLIGHT_WINDOW) {
      const room = Math.min(MAX_EVENTS_PER_BATCH, IN_FLIGHT_WINDOW - this.inFlight.size);
      const records = spool.after(this.sentUpTo, room);
      if (records.length === 0) return;
      const batch: DomainEventMessage[] = [];
      for (const { entry } of records) if (entry.kind === "event") batch.push(entry.event);
      if (!session.send({ type: "events", events: batch })) return;
      for (const event of batch) this.inFlight.add(event.id);
      this.sentUpTo = records[records.length - 1]!.seq;
    }
  }

  /**
   * Sends the loss reports this session has not sent yet. Each one is frozen
   * as it goes out, so while the spool keeps overflowing during a session this
   * runs at most once per LOSS_REPORT_INTERVAL_MS — one report per second,
   * not one per dropped event.
   */
  private sendLosses(): void {
    const session = this.session;
    if (!session || this.stopped) return;
    for (const down of this.options.spool.downtimes()) {
      if (this.lossesSent.has(down.id)) continue;
      const { kind: _kind, ...report } = down;
      if (!session.send({ type: "agent-down", ...report })) return;
      this.lossesSent.add(down.id);
    }
    for (const loss of this.options.spool.losses()) {
      if (this.lossesSent.has(loss.id)) continue;
      const { kind: _kind, ...report } = loss;
      this.options.spool.markSent(loss.id);
      if (!session.send({ type: "events-lost", ...report })) return;
      this.lossesSent.add(loss.id);
    }
  }

  private scheduleLossReport(): void {
    if (this.lossTimer || !this.session) return;
    this.lossTimer = setTimeout(() => {
      this.lossTimer = null;
      this.sendLosses();
    }, LOSS_REPORT_INTERVAL_MS);
  }

  private scheduleInventory(): void {
    const session = this.session;
    if (!session || this.stopped) return;
    const delay = jitter(session.welcome.inventoryIntervalSeconds * 1000, INVENTORY_JITTER, this.options.random);
    this.inventoryTimer = setTimeout(() => {
      void this.sendInventory("interval").finally(() => {
        if (this.session === session) this.scheduleInventory();
      });
    }, delay);
  }

  private sendInventory(why: string): Promise<void> {
    // One at a time: a slow libvirtd must not stack inventories up.
    if (this.inventoryRunning) return this.inventoryRunning;
    const run = (async () => {
      const session = this.session;
      if (!session) return;
      if (!this.options.canInventory()) {
        this.options.logger.info({ why }, "inventory skipped: libvirt is not connected; one follows when it connects");
        return;
      }
      const started = performance.now();
      // Dated before libvirt is asked: a VM defined and stopped while the listing runs is missing from it, and the
      // controller must not take that absence as newer than the VM's events (it resolves stops of vanished VMs by it).
      const collectedAt = new Date().toISOString();
      try {
        let domains = await this.options.inventory();
        if (domains.length > MAX_DOMAINS_PER_INVENTORY) {
          this.options.logger.warn({ domains: domains.length, max: MAX_DOMAINS_PER_INVENTORY },
            "more domains than one inventory may carry; the rest are left out");
          domains = domains.slice(0, MAX_DOMAINS_PER_INVENTORY);
        }
        if (this.session !== session) return;
        const entries = domains.map(toInventoryDomain);
        this.noteTruncated(entries);
        if (session.send({ type: "inventory", collectedAt, domains: entries })) {
          this.inventoriesSent++;
          this.options.logger.debug({ why, domains: domains.length, ms: Math.round(performance.now() - started) }, "inventory sent");
        }
      } catch (err) {
        this.logError(err, `inventory failed (${why})`);
      }
    })();
    this.inventoryRunning = run;
    void run.finally(() => { if (this.inventoryRunning === run) this.inventoryRunning = null; });
    return run;
  }

  private noteTruncated(entries: readonly Domain[]): void {
    const truncated = entries.filter((d) => d.disksTruncated !== undefined).map((d) => ({ vm: d.name, left: d.disksTruncated }));
    const key = JSON.stringify(truncated);
    if (key === this.truncatedKey) return;
    this.truncatedKey = key;
    if (truncated.length === 0) return;
    this.options.logger.warn({ vms: truncated.slice(0, 20), count: truncated.length, maxDisks: MAX_DISKS_PER_DOMAIN },
      `${truncated.length} VM(s) have more than ${MAX_DISKS_PER_DOMAIN} disks; the inventory lists the first ${MAX_DISKS_PER_DOMAIN} and counts the rest (disksTruncated)`);
  }

  private logError(err: unknown, what: string): void {
    this.options.logger.error({ code: errorCodeOf(err, "NS_ERR_AGENT") }, `${what}: ${errorMessage(err)}`);
  }
}
