/** The controller's own entries in the event history, about hosts rather than VMs. */
import { randomUUID } from "node:crypto";
import type { Store } from "../store/index.js";

export type HostEventName = "enrolled" | "revoked" | "connected" | "disconnected" | "missing" | "back" | "events-lost" | "agent-down"
  | "rejected" | "expected-stop" | "event-refused" | "emergency" | "emergency-ended";

export interface HostEventOptions {
  /** A sender's id, so a redelivered report is stored once; default a fresh one. */
  eventId?: string;
  /** When it happened, if not when the controller learnt of it (`now`): an agent's report about the past. */
  time?: number;
  /** The VM the entry is about, if any. */
  vm?: { name: string | null; uuid: string | null };
}

/** Appends one host event; `now` is the controller's receipt time (`receivedAt`), and its time unless `options.time` says otherwise. */
export function recordHostEvent(store: Store, hostId: number, event: HostEventName, now: number,
  data: Record<string, unknown> | null = null, options: HostEventOptions = {}): boolean {
  return store.events.insert({
    eventId: options.eventId ?? randomUUID(), hostId, time: options.time ?? now, kind: "host", event, data,
    domainName: options.vm?.name ?? null, domainUuid: options.vm?.uuid ?? null,
  }, now);
}
