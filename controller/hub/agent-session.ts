/**
 * One agent's WebSocket connection: validates each frame, applies it to the
 * store through the group writer, answers. Nothing an agent sends can throw
 * out of here; it gets an `error` message instead and the controller carries on.
 */
import type { WebSocket } from "ws";
import type { Logger } from "../../shared/logging.js";
import { encodeMessage, parseAgentMessage, PROTOCOL_ERROR_CODES, type Unversioned } from "../../shared/protocol/codec.js";
import type { ErrorCode } from "../../shared/error-codes.js";
import {
  MAX_HELLO_BYTES, type AgentDown, type AgentFrame, type ControllerMessage, type EventsEnvelope, type EventsLost, type HealthEnvelope, type Hello,
  type InventoryEnvelope, type LibvirtState,
} from "../../shared/protocol/messages.js";
import {
  checkDomains, checkEvents, checkHealthReport, inventoryNames, listRefused, usableEventId, type RefusedItem,
} from "../../shared/protocol/items.js";
import type { AgentCalls } from "./agent-calls.js";
import type { Store } from "../store/index.js";
import type { HostRow } from "../store/hosts.js";
import type { StoreWriter } from "./store-writer.js";
import type { ControllerMetrics } from "../metrics.js";
import { clearEmergency } from "../console/host-emergency.js";
import { recordHostEvent } from "./host-events.js";
import { applyUnexpectedStops, resolveStopsOfVanishedVms } from "./unexpected-stops.js";
import { applyLibvirtState } from "./libvirt-state.js";
import { applyHealthRefusals, applyInventoryRefusals, recordRefusedEvent, refusedProbeNames, refusedVmUuids } from "./item-refusals.js";
import { frameBytes, frameText, type FrameData } from "./frame-text.js";
import { lifecycleLabels } from "./lifecycle-labels.js";

export interface SessionContext {
  store: Store;
  writer: StoreWriter;
  metrics: ControllerMetrics;
  log: Logger;
  inventoryIntervalSeconds: number;
  netconsolePort(): number | null;
  heartbeatSeconds: number;
  /** Maintenance steps in flight to agents; told about welcomed sessions and step results. */
  calls: AgentCalls;
  /** Called on every sign of life (message or pong). */
  touch(hostId: number): void;
}

export class AgentSession {
  alive = true;
  private greeted = false;
  /** The libvirt URI the agent's hello named. */
  private libvirtUri: string | null = null;

  constructor(
    readonly id: string,
    readonly host: HostRow,
    readonly ws: WebSocket,
    readonly remoteAddr: string | undefined,
    private readonly ctx: SessionContext,
  ) {}

  send(message: Unversioned<ControllerMessage>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeMessage(message));
  }

  refuse(kind: string, code: ErrorCode, message: string): void {
    this.ctx.metrics.messageErrors.inc({ kind });
    this.ctx.log.warn({ host: this.host.name, session: this.id, kind, code }, message);
    this.send({ type: "error", code, message });
  }

  receive(data: FrameData, isBinary: boolean): void {
    this.alive = true;
    this.ctx.touch(this.host.id);
    if (isBinary) {
      this.refuse("binary", "NS_ERR_PROTOCOL_BINARY", "binary frames are not part of the protocol; send JSON text frames");
      return;
    }
    const bytes = frameBytes(data);
    if (!this.greeted && bytes > MAX_HELLO_BYTES) {
      // Only a hello may come now, and no hello is this big: not worth decoding, let alone parsing.
      this.refuse("oversized", "NS_ERR_PROTOCOL_TOO_LARGE",
        `a ${bytes}-byte frame before hello: until its hello is welcomed an agent may send at most ${MAX_HELLO_BYTES} bytes`);
      this.ws.close(1009, "frame too large before hello");
      return;
    }
    // The codec checks the text's nesting and widths before JSON.parse builds anything (json-shape.ts).
    const parsed = parseAgentMessage(frameText(data));
    if (!parsed.ok) {
      this.refuse(parsed.kind, PROTOCOL_ERROR_CODES[parsed.kind], parsed.detail);
      return;
    }
    const message = parsed.message;
    if (message.type !== "hello" && !this.greeted) {
      this.refuse("order", "NS_ERR_PROTOCOL_ORDER", `${message.type} before hello: send hello first`);
      return;
    }
    this.dispatch(message).catch((err: unknown) => {
      this.ctx.metrics.messageErrors.inc({ kind: "store" });
      this.ctx.log.error({ host: this.host.name, err }, `storing ${message.type} failed`);
      this.send({ type: "error", code: "NS_ERR_STORE" satisfies ErrorCode, message: `the controller could not store this ${message.type}; it will be asked again` });
    });
  }

  private dispatch(message: AgentFrame): Promise<void> {
    switch (message.type) {
      case "hello":
        return this.onHello(message);
      case "inventory":
        return this.onInventory(message);
      case "events":
        return this.onEvents(message);
      case "events-lost":
        return this.onEventsLost(message);
      case "agent-down":
        return this.onAgentDown(message);
      case "health":
        return this.onHealth(message);
      case "step-result":
        this.ctx.calls.result(this.host.id, message);
        return Promise.resolve();
      case "libvirt-state":
        return this.onLibvirtState(message);
    }
  }

  private async onHello(hello: Hello): Promise<void> {
    if (hello.host !== this.host.name) {
      this.refuse("host-mismatch", "NS_ERR_HOST_MISMATCH",
        `this token belongs to host '${this.host.name}', but the agent says it is '${hello.host}': fix the agent's host setting or token file`);
      this.ws.close(4403, "host mismatch");
      return;
    }
    const now = Date.now();
    this.libvirtUri = hello.libvirtUri;
    await this.ctx.writer.write(() => {
      const current = this.ctx.store.hosts.findByName(this.host.name);
      this.ctx.store.hosts.recordHello(this.host.id, hello, now);
      if (current?.status === "missing") {
        recordHostEvent(this.ctx.store, this.host.id, "back", now, { missingSinceLastSeen: current.last_seen_at });
      }
      if (current?.status !== "up") this.ctx.store.hosts.setStatus(this.host.id, "up");
      // The agent runs: this boot got past the emergency mode its console reported.
      clearEmergency(this.ctx.store, this.host.id, now);
    });
    this.greeted = true;
    this.ctx.log.info({ host: this.host.name, session: this.id, agentVersion: hello.agentVersion, libvirt: hello.libvirtVersion }, "agent said hello");
    this.send({
      type: "welcome", sessionId: this.id, host: this.host.name,
      inventoryIntervalSeconds: this.ctx.inventoryIntervalSeconds, heartbeatSeconds: this.ctx.heartbeatSeconds,
      ...(this.ctx.netconsolePort() !== null ? { netconsolePort: this.ctx.netconsolePort()! } : {}),
    });
    this.ctx.calls.sessionStarted(this.host.id, this);
  }

  /**
   * Items refused on their own (the rest of their message was taken): counted,
   * logged, and told to the agent in one `error` per message.
   */
  private refusedItems(headline: string, refused: readonly RefusedItem[], note?: (item: RefusedItem) => string): void {
    if (refused.length === 0) return;
    for (const item of refused) this.ctx.metrics.itemsRefused.inc({ kind: item.kind });
    const message = `${headline}: ${listRefused(refused, note)}`;
    this.ctx.log.warn({ host: this.host.name, session: this.id, code: "NS_ERR_PROTOCOL_ITEM" satisfies ErrorCode, refused: refused.length }, message);
    this.send({ type: "error", code: "NS_ERR_PROTOCOL_ITEM" satisfies ErrorCode, message });
  }

  /** Past checkDomains only its result is read: the list as received may hold anything (null, numbers, twins). */
  private async onInventory(inventory: InventoryEnvelope): Promise<void> {
    const now = Date.now();
    const checked = checkDomains(inventory.domains);
    const { accepted, refused } = checked;
    // A refused VM is still there: only names missing from the whole inventory count as gone.
    const present = inventoryNames(checked);
    await this.ctx.writer.write(() => {
      this.ctx.store.domains.replaceInventory(this.host.id, accepted, now, refusedVmUuids(refused));
      applyInventoryRefusals(this.ctx.store, this.host.id, this.host.name, refused, now);
      resolveStopsOfVanishedVms(this.ctx.store, this.host.id, present, Math.min(Date.parse(inventory.collectedAt), now), now);
    });
    this.refusedItems(`inventory: ${refused.length} of ${accepted.length + refused.length} domains refused, the others were stored `
      + "(a refused VM keeps its last stored state)", refused);
  }

  private async onEvents(batch: EventsEnvelope): Promise<void> {
    const now = Date.now();
    const { accepted, refused, ackIds } = checkEvents(batch.events);
    const stored = await this.ctx.writer.write(() => {
      // Kept in the history as they arrived, so that they can be acked: resent, they would only be refused again.
      for (const item of refused) recordRefusedEvent(this.ctx.store, this.host.id, item, now);
      const fresh: typeof accepted = [];
      for (const e of accepted) {
        const time = Date.parse(e.time);
        const data: Record<string, unknown> | null = e.kind === "agent-lifecycle" ? { state: e.state, reason: e.reason } : null;
        const inserted = this.ctx.store.events.insert({
          eventId: e.id, hostId: this.host.id, time, kind: e.kind, domainName: e.domain, domainUuid: e.uuid,
          event: e.event ?? e.state ?? null, detail: e.detail ?? e.reason ?? null, data,
        }, now);
        if (!inserted) continue;
        fresh.push(e);
        // The VM's updatedAt is never later than now, whatever the host's clock says.
        if (e.kind === "lifecycle" && e.event) {
          this.ctx.store.domains.applyLifecycle(this.host.id, e.uuid, e.event, e.detail ?? "", Math.min(time, now));
        }
        applyUnexpectedStops(this.ctx.store, this.host.id, this.host.name, e, now);
      }
      return fresh;
    });
    for (const e of stored) {
      this.ctx.metrics.eventsStored.inc();
      if (e.kind === "lifecycle") this.ctx.metrics.lifecycleEvents.inc(lifecycleLabels(e.event, e.detail));
    }
    // Ack every id, duplicates and refused events included: the agent may drop them from its spool either way.
    if (ackIds.length > 0) this.send({ type: "ack", ids: ackIds });
    this.refusedItems(`events: ${refused.length} of ${accepted.length + refused.length} events refused, the others were stored; `
      + "each refused event is kept in the history as event-refused", refused,
      (item) => (usableEventId(item.raw) === null ? " (no usable id: it cannot be acked)" : ""));
  }

  private async onEventsLost(report: EventsLost): Promise<void> {
    const now = Date.now();
    // Stored at the time of the last loss (the history is ordered by when things happened), received now.
    await this.ctx.writer.write(() => recordHostEvent(this.ctx.store, this.host.id, "events-lost", now,
      { count: report.count, firstLostAt: report.firstLostAt, lastLostAt: report.lastLostAt },
      { eventId: report.id, time: Math.min(Date.parse(report.lastLostAt), now) }));
    this.ctx.log.warn({ host: this.host.name, count: report.count }, "agent reports lost events (its spool overflowed)");
    this.send({ type: "ack", ids: [report.id] });
  }

  private async onAgentDown(report: AgentDown): Promise<void> {
    const now = Date.now();
    // Dated when the agent went down, so the history reads in order; never later than now.
    const time = Math.min(Date.parse(report.downAt), now);
    await this.ctx.writer.write(() => recordHostEvent(this.ctx.store, this.host.id, "agent-down", now,
      { downAt: report.downAt, upAt: report.upAt, clean: report.clean, eventsUnknown: true,
        note: "the agent was not running: libvirt does not replay events, so VM events in between are unknown" },
      { eventId: report.id, time }));
    this.ctx.log.warn({ host: this.host.name, downAt: report.downAt, upAt: report.upAt, clean: report.clean },
      "agent reports it was not running: VM events of that time are unknown");
    this.send({ type: "ack", ids: [report.id] });
  }

  private async onLibvirtState(message: LibvirtState): Promise<void> {
    const now = Date.now();
    const { opened, resolved } = await this.ctx.writer.write(() =>
      applyLibvirtState(this.ctx.store, this.host.id, this.host.name, this.libvirtUri, message, now));
    const fields = { host: this.host.name, session: this.id, libvirt: message.state, since: message.since, opened, resolved };
    if (message.state === "unreachable") this.ctx.log.warn({ ...fields, code: message.code }, `agent cannot reach libvirt: ${message.detail ?? "no reason given"}`);
    else this.ctx.log.info(fields, "agent connected to libvirt");
  }

  private async onHealth(health: HealthEnvelope): Promise<void> {
    const now = Date.now();
    const { report, refused } = checkHealthReport(health.report);
    const { opened, resolved } = await this.ctx.writer.write(() => {
      applyHealthRefusals(this.ctx.store, this.host.id, this.host.name, refused, now);
      return this.ctx.store.health.applyReport(this.host.id, report, now, refusedProbeNames(refused));
    });
    const critical = report.findings.filter((f) => f.severity === "critical").length;
    this.ctx.log.info({ host: this.host.name, findings: report.findings.length, critical, opened, resolved }, "health report stored");
    this.refusedItems(`health: ${refused.length} ${refused.length === 1 ? "item" : "items"} refused, the rest of the report was stored`, refused);
  }
}
