/** The controller's own entries in the event history, about hosts rather than VMs. */
import { randomUUID } from "node:crypto";
import type { Store } from "../store/index.js";

export type HostEventName = "enrolled" | "revoked" | "connected" | "disconnected" | "missing" | "back" | "events-lost" | "agent-down"
  | "rejected" | "expected-stop" | "event-refused";

export interface HostEventOptions {
  /** When the controller learnt it (default: `time`). */
  receivedAt?: number;
  /** The VM the entry is about, if any. */
  vm?: { name: string | null; uuid: string | null };
}

/** `time`: when it happened. */
export function recordHostEvent(store: Store, hostId: number, event: HostEventName, time: number,
  data: Record<string, unknown> | null = null, eventId: string = randomUUID(), options: HostEventOptions = {}): boolean {
  const vm = options.vm ?? { name: null, uuid: null };
  return store.events.insert({ eventId, hostId, time, kind: "host", event, data, domainName: vm.name, domainUuid: vm.uuid },
    options.receivedAt ?? time);
}
