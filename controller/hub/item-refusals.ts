/**
 * What the controller keeps of the items it refused on their own
 * (shared/protocol/items.ts), so that a refusal is never silent:
 * - a refused VM of a host's latest inventory: finding NS_INVENTORY_VM_REFUSED
 *   (subject: the VM's name), resolved once an inventory no longer refuses it;
 * - refused items of a host's latest health report: one NS_HEALTH_ITEM_REFUSED
 *   (subject "health report"), resolved by a report without any;
 * - a refused event: an `event-refused` entry in the history under the
 *   event's own id, holding the event as it arrived, so a redelivery is stored
 *   once and the agent can be acked and let go of it.
 * Call these inside a store transaction.
 */
import type { Store } from "../store/index.js";
import { domainName, listRefused, usableEventId, usableUuid, type RefusedItem } from "../../shared/protocol/items.js";
import { recordHostEvent } from "./host-events.js";
import { PROBE_RUN_LIMITS } from "../../shared/protocol/findings.js";

export const INVENTORY_VM_REFUSED = "NS_INVENTORY_VM_REFUSED";
export const HEALTH_ITEM_REFUSED = "NS_HEALTH_ITEM_REFUSED";
export const HEALTH_REPORT_SUBJECT = "health report";

/** FindingSchema's bounds, which the controller's own findings keep too. */
const MAX_SUBJECT = 512;
const MAX_TEXT = 2048;
/** A refused event is kept as text up to this size: enough to see what was wrong with it. */
const MAX_REFUSED_EVENT_CHARS = 8 * 1024;
/** A refused event's VM name is stored whole up to this (so `events --vm NAME` finds it). */
const MAX_STORED_NAME = 4096;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The VM a refused inventory item is about: its name, else its UUID, else where it was. */
function refusedVmSubject(item: RefusedItem): string {
  return clip(domainName(item.raw) ?? usableUuid(item.raw) ?? item.path, MAX_SUBJECT);
}

/** Names of refused probe runs that could have a stored row: those rows stay (applyReport's `keepProbes`). */
export function refusedProbeNames(refused: readonly RefusedItem[]): Set<string> {
  const names = new Set<string>();
  for (const item of refused) {
    const name = item.kind === "probe" && typeof item.raw === "object" && item.raw !== null ? (item.raw as { name?: unknown }).name : undefined;
    if (typeof name === "string" && name.length <= PROBE_RUN_LIMITS.name) names.add(name);
  }
  return names;
}

/** UUIDs of refused VMs: their stored rows stay (replaceInventory's `keep`). */
export function refusedVmUuids(refused: readonly RefusedItem[]): Set<string> {
  const uuids = new Set<string>();
  for (const item of refused) {
    const uuid = usableUuid(item.raw);
    if (uuid !== null) uuids.add(uuid);
  }
  return uuids;
}

export function applyInventoryRefusals(store: Store, hostId: number, hostName: string, refused: readonly RefusedItem[], now: number): void {
  const subjects = new Set<string>();
  for (const item of refused) {
    const subject = refusedVmSubject(item);
    subjects.add(subject);
    store.health.upsertFinding(hostId, {
      code: INVENTORY_VM_REFUSED, severity: "warning", subject, probe: "controller",
      message: clip(`VM ${clip(subject, 200)} in the inventory of ${hostName} was refused (${item.problem}); `
        + "the controller keeps what it last stored for it, and the host's other VMs are current", MAX_TEXT),
      remedy: `upgrade nightshift-agent on ${hostName} if it is older than the controller (current agents send at most 256 disks `
        + "and count the rest); a VM name longer than 256 characters cannot be reported: rename the VM (virsh domrename); "
        + `entries no libvirt makes (a VM listed twice, two disks on one target, an entry that is no object): check what runs as the agent of ${hostName} and with its token`,
    }, "controller", now);
  }
  for (const subject of store.health.openSubjects(hostId, INVENTORY_VM_REFUSED)) {
    if (!subjects.has(subject)) store.health.resolveFinding(hostId, INVENTORY_VM_REFUSED, subject, now);
  }
}

export function applyHealthRefusals(store: Store, hostId: number, hostName: string, refused: readonly RefusedItem[], now: number): void {
  if (refused.length === 0) {
    store.health.resolveFinding(hostId, HEALTH_ITEM_REFUSED, HEALTH_REPORT_SUBJECT, now);
    return;
  }
  store.health.upsertFinding(hostId, {
    code: HEALTH_ITEM_REFUSED, severity: "warning", subject: HEALTH_REPORT_SUBJECT, probe: "controller",
    message: clip(`${refused.length} item(s) of the latest health report of ${hostName} were refused, the rest was stored: `
      + listRefused(refused), MAX_TEXT),
    remedy: `upgrade nightshift-agent on ${hostName} if it is older than the controller; otherwise report the message `
      + "with the agent's version: a probe produced something the protocol does not allow",
  }, "controller", now);
}

/** Records one refused event; false when it has no usable id (it cannot be acked) or was recorded before. */
export function recordRefusedEvent(store: Store, hostId: number, item: RefusedItem, now: number): boolean {
  const id = usableEventId(item.raw);
  if (id === null) return false;
  const domain = typeof item.raw === "object" && item.raw !== null ? (item.raw as { domain?: unknown }).domain : undefined;
  const name = typeof domain === "string" ? clip(domain, MAX_STORED_NAME) : null;
  return recordHostEvent(store, hostId, "event-refused", now,
    { problem: item.problem, event: clip(JSON.stringify(item.raw), MAX_REFUSED_EVENT_CHARS) },
    { eventId: id, vm: { name, uuid: usableUuid(item.raw) } });
}
