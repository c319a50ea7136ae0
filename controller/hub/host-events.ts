/** The controller's own entries in the event history, about hosts rather than VMs. */
import { randomUUID } from "node:crypto";
import type { Store } from "../store/index.js";

export type HostEventName = "enrolled" | "revoked" | "connected" | "disconnected" | "missing" | "back" | "events-lost" | "rejected" | "expected-stop";

export function recordHostEvent(store: Store, hostId: number, event: HostEventName, now: number,
  data: Record<string, unknown> | null = null, eventId: string = randomUUID()): boolean {
  return store.events.insert({ eventId, hostId, time: now, kind: "host", event, data }, now);
}
