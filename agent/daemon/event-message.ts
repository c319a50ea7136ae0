/** A libvirt domain event as the protocol carries it, under a fresh unique id. */
import { uuidv7 } from "../../shared/ids.js";
import type { DomainEvent } from "../libvirt/events.js";
import type { DomainEventMessage } from "../../shared/protocol/messages.js";

export function toEventMessage(event: DomainEvent, id: string = uuidv7()): DomainEventMessage {
  const base = { id, time: event.receivedAt.toISOString(), domain: event.domain.name, uuid: event.domain.uuid, kind: event.kind };
  switch (event.kind) {
    case "lifecycle":
      return { ...base, event: event.event, detail: event.detail };
    case "agent-lifecycle":
      return { ...base, state: event.state, reason: event.reason };
    case "reboot":
      return base;
  }
}
