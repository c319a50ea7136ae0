/**
 * Unexpected VM stops: a VM that stopped without a recorded reason (by the
 * operator with `nightshift expect-stop`, or later by a maintenance run)
 * becomes a finding, with libvirt's reason and time. It resolves when the VM
 * runs again, when someone records why it stopped, or when the VM is
 * undefined (the undefine is in the history; nobody will start it again).
 */
import type { Store } from "../store/index.js";
import type { DomainEventMessage } from "../../shared/protocol/messages.js";

export const UNEXPECTED_STOP = "NS_VM_UNEXPECTED_STOP";

/** Stops that are part of a deliberate move, not an outage. */
const DELIBERATE_DETAILS = new Set(["migrated", "saved", "from-snapshot"]);

export function applyUnexpectedStops(store: Store, hostId: number, hostName: string, event: DomainEventMessage, now: number): void {
  if (event.kind !== "lifecycle") return;
  if (event.event === "started" || event.event === "resumed" || event.event === "undefined") {
    store.health.resolveFinding(hostId, UNEXPECTED_STOP, event.domain, now);
    return;
  }
  const stopped = event.event === "stopped" || event.event === "crashed";
  if (!stopped || DELIBERATE_DETAILS.has(event.detail ?? "")) return;
  // The agent's clock may be off: a stop it dates in the future happened by now at the latest.
  const at = Math.min(Date.parse(event.time), now);
  if (store.health.expectedStop(hostId, event.domain, at)) return;
  // A VM in a maintenance run is stopped by the run itself (reboot, revert); the run's evidence says why.
  if (store.runs.openRunsOf(hostId, event.domain).length > 0) return;
  const reason = `${event.event}/${event.detail ?? "unknown"}`;
  store.health.upsertFinding(hostId, {
    code: UNEXPECTED_STOP,
    severity: event.event === "crashed" || event.detail === "crashed" || event.detail === "failed" ? "critical" : "warning",
    subject: event.domain,
    message: `VM ${event.domain} on ${hostName} stopped at ${event.time} (libvirt: ${reason}) and nobody recorded why`,
    remedy: `find out why (nightshift events --host ${hostName} --vm ${event.domain}; the guest's own logs), start it again ` +
      `(virsh start ${event.domain}), or record the reason: nightshift expect-stop ${event.domain} --host ${hostName} --reason TEXT`,
    probe: "controller",
  }, "controller", now);
}

/**
 * A VM gone from the inventory (undefined while the agent was not listening) has no stop left to explain.
 * Only findings opened before the inventory was collected count: an inventory taken just before a VM was
 * defined can arrive after that VM's first events.
 */
export function resolveStopsOfVanishedVms(store: Store, hostId: number, present: ReadonlySet<string>, collectedAt: number, now: number): void {
  for (const subject of store.health.openSubjects(hostId, UNEXPECTED_STOP, collectedAt)) {
    if (!present.has(subject)) store.health.resolveFinding(hostId, UNEXPECTED_STOP, subject, now);
  }
}
