/**
 * Domain events: decoding of the daemon's event messages into typed events,
 * and routing by callback id to the subscriber's stream.
 */
import { XdrReader } from "./xdr.js";
import { readDomain, type DomainRef } from "./remote-types.js";
import {
  AgentLifecycleReason, AgentLifecycleState, DomainEventDetails, DomainEventId, DomainEventType,
  RemoteProcedure, type DomainEventTypeName,
} from "./protocol.js";

interface EventBase {
  domain: DomainRef;
  /** When this process received it (libvirt events carry no timestamp). */
  receivedAt: Date;
}

export interface LifecycleEvent extends EventBase {
  kind: "lifecycle";
  event: DomainEventTypeName;
  detail: string;
  eventCode: number;
  detailCode: number;
}

export interface RebootEvent extends EventBase {
  kind: "reboot";
}

export interface AgentLifecycleEvent extends EventBase {
  kind: "agent-lifecycle";
  state: string;
  reason: string;
}

export type DomainEvent = LifecycleEvent | RebootEvent | AgentLifecycleEvent;
export type DomainEventKind = DomainEvent["kind"];

export const EVENT_ID_BY_KIND: Record<DomainEventKind, DomainEventId> = {
  lifecycle: DomainEventId.LIFECYCLE,
  reboot: DomainEventId.REBOOT,
  "agent-lifecycle": DomainEventId.AGENT_LIFECYCLE,
};

export const EVENT_PROCEDURES = [
  RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
  RemoteProcedure.DOMAIN_EVENT_CALLBACK_REBOOT,
  RemoteProcedure.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE,
] as const;

export function lifecycleNames(eventCode: number, detailCode: number): { event: DomainEventTypeName; detail: string } {
  const event = DomainEventType[eventCode] ?? "unknown";
  const detail = DomainEventDetails[event][detailCode] ?? `detail-${detailCode}`;
  return { event, detail };
}

/** Decodes one event message body into its callback id and event. */
export function decodeEventMessage(procedure: number, body: Buffer, receivedAt = new Date()): { callbackId: number; event: DomainEvent } {
  const r = new XdrReader(body);
  const callbackId = r.int();
  const domain = readDomain(r);
  let event: DomainEvent;
  switch (procedure) {
    case RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE: {
      const eventCode = r.int();
      const detailCode = r.int();
      event = { kind: "lifecycle", domain, receivedAt, eventCode, detailCode, ...lifecycleNames(eventCode, detailCode) };
      break;
    }
    case RemoteProcedure.DOMAIN_EVENT_CALLBACK_REBOOT:
      event = { kind: "reboot", domain, receivedAt };
      break;
    case RemoteProcedure.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE: {
      const state = r.int();
      const reason = r.int();
      event = {
        kind: "agent-lifecycle", domain, receivedAt,
        state: AgentLifecycleState[state] ?? `state-${state}`,
        reason: AgentLifecycleReason[reason] ?? `reason-${reason}`,
      };
      break;
    }
    default:
      throw new Error(`not an event procedure: ${procedure}`);
  }
  r.end();
  return { callbackId, event };
}
