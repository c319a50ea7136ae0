/**
 * Per-item checks of the agent's list messages. A frame is validated as an
 * envelope (codec.ts: version, type, the lists' lengths); each item in it —
 * an inventory's domain, a batch's event, a health report's finding, probe
 * run and each probe's fact (a list fact item by item, shared/facts/) — is
 * checked here on its own, so an item that breaks the protocol's limits is
 * refused alone, named, and the rest is taken.
 */
import type { z } from "zod";
import {
  DomainEventSchema, DomainSchema, type AgentFrame, type AgentMessage, type Domain, type DomainEventMessage, type HealthEnvelope,
} from "./messages.js";
import { FindingSchema, ProbeRunSchema, type HealthReport } from "./findings.js";
import { factSpec, type Facts } from "../facts/index.js";
import { MAX_ISSUES, clipLabel, describeIssues, stringField, type RefusedItem } from "./refused.js";

export { describeIssues, type RefusedItem } from "./refused.js";

export interface ItemCheck<T> {
  accepted: T[];
  refused: RefusedItem[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A refused domain's or event's UUID, when it has a well-formed one. */
export function usableUuid(raw: unknown): string | null {
  const uuid = stringField(raw, "uuid");
  return uuid !== null && UUID.test(uuid) ? uuid : null;
}

/** A refused event's id when it is one the agent can be sent back in an ack (DomainEventSchema's bounds). */
export function usableEventId(raw: unknown): string | null {
  const id = stringField(raw, "id");
  return id !== null && id.length >= 8 && id.length <= 64 ? id : null;
}

/** A refused domain's name, whole (the controller's finding is about it), when it has one. */
export function domainName(raw: unknown): string | null {
  return stringField(raw, "name");
}

function checkEach<T>(kind: string, schema: z.ZodType<T>, items: readonly unknown[], path: string,
  label: (raw: unknown) => string | null): ItemCheck<T> {
  const accepted: T[] = [];
  const refused: RefusedItem[] = [];
  items.forEach((raw, i) => {
    const result = schema.safeParse(raw);
    if (result.success) accepted.push(result.data);
    else refused.push({ kind, path: `${path}[${i}]`, label: label(raw), problem: describeIssues(result.error), raw });
  });
  return { accepted, refused };
}

function domainLabel(raw: unknown): string | null {
  const name = domainName(raw);
  const uuid = usableUuid(raw);
  if (name === null) return uuid;
  return uuid === null ? `'${clipLabel(name)}'` : `'${clipLabel(name)}' (${uuid})`;
}

/** Positions of the items sharing a key with another item, by item: "domains[0], domains[3]". */
function sharedKeys(items: readonly unknown[], key: (raw: unknown) => string | null): Map<number, { key: string; positions: number[] }> {
  const byKey = new Map<string, number[]>();
  items.forEach((raw, i) => {
    const k = key(raw);
    if (k === null) return;
    const positions = byKey.get(k);
    if (positions) positions.push(i);
    else byKey.set(k, [i]);
  });
  const shared = new Map<number, { key: string; positions: number[] }>();
  for (const [k, positions] of byKey) if (positions.length > 1) for (const i of positions) shared.set(i, { key: k, positions });
  return shared;
}

function duplicateProblem(what: string, shown: string, positions: readonly number[]): string {
  const listed = positions.slice(0, MAX_ISSUES).map((p) => `domains[${p}]`).join(", ");
  return `${what}: ${shown} is the ${what === "uuid" ? "UUID" : "name"} of ${positions.length} entries (${listed}` +
    `${positions.length > MAX_ISSUES ? ", ..." : ""}); libvirt allows one per host, so which entry is the VM cannot be told`;
}

/**
 * Each domain on its own, and then across the inventory: entries sharing a
 * UUID or a name (libvirt allows neither on one host) are all refused, since
 * which of them is the VM cannot be told; the VM keeps its stored state.
 */
export function checkDomains(domains: readonly unknown[]): ItemCheck<Domain> {
  const sameUuid = sharedKeys(domains, (raw) => usableUuid(raw)?.toLowerCase() ?? null);
  const sameName = sharedKeys(domains, domainName);
  const accepted: Domain[] = [];
  const refused: RefusedItem[] = [];
  domains.forEach((raw, i) => {
    const result = DomainSchema.safeParse(raw);
    const problems: string[] = [];
    const uuid = sameUuid.get(i);
    if (uuid) problems.push(duplicateProblem("uuid", uuid.key, uuid.positions));
    const name = sameName.get(i);
    if (name) problems.push(duplicateProblem("name", `'${clipLabel(name.key)}'`, name.positions));
    if (!result.success) problems.push(describeIssues(result.error));
    if (problems.length === 0 && result.success) accepted.push(result.data);
    else refused.push({ kind: "domain", path: `domains[${i}]`, label: domainLabel(raw), problem: problems.join("; "), raw });
  });
  return { accepted, refused };
}

/** The names of an inventory's VMs as far as they can be read: its accepted ones and its refused ones that have one. */
export function inventoryNames(check: ItemCheck<Domain>): Set<string> {
  const names = new Set(check.accepted.map((d) => d.name));
  for (const item of check.refused) {
    const name = domainName(item.raw);
    if (name !== null) names.add(name);
  }
  return names;
}

export interface EventCheck extends ItemCheck<DomainEventMessage> {
  /** The ids that can be acked (accepted and refused events with a usable id), in the batch's order. */
  ackIds: string[];
}

export function checkEvents(events: readonly unknown[]): EventCheck {
  const ackIds: string[] = [];
  for (const raw of events) {
    const id = usableEventId(raw);
    if (id !== null) ackIds.push(id);
  }
  return { ...checkEach("event", DomainEventSchema, events, "events", usableEventId), ackIds };
}

/** Where a report's facts are: `facts`, or for an agent from before facts were keyed by probe, `mounts` and `systemd`. */
function rawFacts(report: HealthEnvelope["report"]): { probe: string; path: string; raw: unknown }[] {
  if (report.facts !== undefined) return Object.entries(report.facts).map(([probe, raw]) => ({ probe, path: `facts.${probe}`, raw }));
  const legacy: { probe: string; path: string; raw: unknown }[] = [];
  if (report.mounts !== undefined) legacy.push({ probe: "mounts", path: "mounts", raw: report.mounts });
  // null was that shape's "no systemd fact".
  if (report.systemd !== undefined && report.systemd !== null) legacy.push({ probe: "systemd", path: "systemd", raw: report.systemd });
  return legacy;
}

/** Each probe's fact checked against its spec: what could be taken, and what was refused. */
function checkFacts(report: HealthEnvelope["report"]): { facts: Facts; refused: RefusedItem[] } {
  const facts: Record<string, unknown> = {};
  const refused: RefusedItem[] = [];
  for (const { probe, path, raw } of rawFacts(report)) {
    const spec = factSpec(probe);
    if (!spec) {
      refused.push({ kind: "fact", path, label: clipLabel(probe), problem: `no probe this controller knows reports a fact named '${clipLabel(probe)}'`, raw });
      continue;
    }
    const checked = spec.check(raw, path);
    if (checked.value !== undefined) facts[probe] = checked.value;
    refused.push(...checked.refused);
  }
  return { facts: facts as Facts, refused };
}

/** A health report with each probe run, finding and fact checked on its own; a fact refused whole counts as none. */
export function checkHealthReport(report: HealthEnvelope["report"]): { report: HealthReport; refused: RefusedItem[] } {
  const probes = checkEach("probe", ProbeRunSchema, report.probes, "probes", (raw) => stringField(raw, "name"));
  const findings = checkEach("finding", FindingSchema, report.findings, "findings", (raw) => {
    const code = stringField(raw, "code");
    return code === null ? null : clipLabel(code);
  });
  const facts = checkFacts(report);
  return {
    report: { collectedAt: report.collectedAt, probes: probes.accepted, findings: findings.accepted, facts: facts.facts },
    refused: [...probes.refused, ...findings.refused, ...facts.refused],
  };
}

/**
 * A whole frame with every item checked: the message with the accepted items
 * only, and the refused ones. (An events batch whose every event is refused
 * keeps an empty list here, which EventsSchema itself would not allow.)
 */
export function checkAgentFrame(frame: AgentFrame): { message: AgentMessage; refused: RefusedItem[] } {
  switch (frame.type) {
    case "inventory": {
      const { accepted, refused } = checkDomains(frame.domains);
      return { message: { ...frame, domains: accepted }, refused };
    }
    case "events": {
      const { accepted, refused } = checkEvents(frame.events);
      return { message: { ...frame, events: accepted }, refused };
    }
    case "health": {
      const { report, refused } = checkHealthReport(frame.report);
      return { message: { ...frame, report }, refused };
    }
    default:
      return { message: frame, refused: [] };
  }
}

/** "domains[1] 'wide' (uuid): disks: Too big: ...; events[3]: id: ..." — the first few, and how many more. */
export function listRefused(refused: readonly RefusedItem[], note: (item: RefusedItem) => string = () => ""): string {
  const shown = refused.slice(0, MAX_ISSUES).map((r) => `${r.path}${r.label === null ? "" : ` ${r.label}`}: ${r.problem}${note(r)}`);
  const more = refused.length - shown.length;
  return shown.join(" | ") + (more > 0 ? ` | and ${more} more` : "");
}
