/** The controller's own entries in the event history, about hosts rather than VMs. */
import { randomUUID } from "node:crypto";
import type { Store } from "../store/index.js";

export type HostEventName = "enrolled" | "revoked" | "connected" | "disconnected" | "missing" | "back" | "events-lost" | "rejected" | "expected-stop"
  | "event-refused";

export function recordHostEvent(store: Store, hostId: number, event: HostEventName, now: number,
  data: Record<string, unknown> | null = null, eventId: string = randomUUID(),
  vm: { name: string | null; uuid: string | null } = { name: null, uuid: null }): boolean {
  return store.events.insert({ eventId, hostId, time: now, kind: "host", event, data, domainName: vm.name, domainUuid: vm.uuid }, now);
}
