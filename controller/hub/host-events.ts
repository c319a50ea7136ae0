/** The controller's own entries in the event history, about hosts rather than VMs. */
import { randomUUID } from "node:crypto";
import type { Store } from "../store/index.js";

export type HostEventName = "enrolled" | "revoked" | "connected" | "disconnected" | "missing" | "back" | "events-lost" | "agent-down" | "rejected" | "expected-stop";

/** `time`: when it happened; `receivedAt`: when the controller learnt it (default: the same). */
export function recordHostEvent(store: Store, hostId: number, event: HostEventName, time: number,
  data: Record<string, unknown> | null = null, eventId: string = randomUUID(), receivedAt: number = time): boolean {
  return store.events.insert({ eventId, hostId, time, kind: "host", event, data }, receivedAt);
}
