/**
 * Label values of nightshift_lifecycle_events_total: libvirt's own event and
 * detail names (agent/libvirt/protocol.ts), anything else `other`. An event's
 * `event` and `detail` are whatever strings the agent sent (up to 32 and 64
 * characters); as labels of a counter, which is never pruned, each made-up
 * one would add a series for the controller's lifetime. The history keeps
 * them as sent.
 */
import { DomainEventDetails, DomainEventType, type DomainEventTypeName } from "../../agent/libvirt/protocol.js";

export const OTHER_LABEL = "other";
const EVENTS: ReadonlySet<string> = new Set(DomainEventType);

export function lifecycleLabels(event: string | undefined, detail: string | undefined): { event: string; detail: string } {
  if (event === undefined) return { event: "unknown", detail: detail === undefined ? "unknown" : OTHER_LABEL };
  if (!EVENTS.has(event)) return { event: OTHER_LABEL, detail: OTHER_LABEL };
  if (detail === undefined) return { event, detail: "unknown" };
  return { event, detail: DomainEventDetails[event as DomainEventTypeName].includes(detail) ? detail : OTHER_LABEL };
}
