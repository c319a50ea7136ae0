/**
 * Per-item checks of the agent's list messages. A frame is validated as an
 * envelope (codec.ts: version, type, the lists' lengths); each item in it —
 * an inventory's domain, a batch's event, a health report's finding, mount,
 * probe run, systemd fact — is checked here on its own, so an item that breaks
 * the protocol's limits is refused alone, named, and the rest is taken.
 */
import type { z } from "zod";
import {
  DomainEventSchema, DomainSchema, type AgentFrame, type AgentMessage, type Domain, type DomainEventMessage, type HealthEnvelope,
} from "./messages.js";
import { FindingSchema, MountFactSchema, ProbeRunSchema, SystemdFactSchema, type HealthReport } from "./findings.js";

export type RefusedKind = "domain" | "event" | "finding" | "mount" | "probe" | "systemd";

export interface RefusedItem {
  kind: RefusedKind;
  /** Where it was in its message: "domains[3]", "report.systemd". */
  path: string;
  /** What it names, as far as that can be read: "'web1' (uuid)", an event's id, a finding's code; null when nothing can. */
  label: string | null;
  /** What is wrong: up to 5 issues, each with its path inside the item. */
  problem: string;
  /** The item as it arrived. */
  raw: unknown;
}

export interface ItemCheck<T> {
  accepted: T[];
  refused: RefusedItem[];
}

const MAX_ISSUES = 5;
/** Labels quote what the agent sent; a 10,000-character name must not become a 10,000-character error. */
const MAX_LABEL_CHARS = 120;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.join(".") || "(item)"}: ${i.message}`).join("; ");
}

function clip(text: string): string {
  return text.length > MAX_LABEL_CHARS ? `${text.slice(0, MAX_LABEL_CHARS - 1)}…` : text;
}

function field(raw: unknown, key: string): unknown {
  return typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
}

function stringField(raw: unknown, key: string): string | null {
  const value = field(raw, key);
  return typeof value === "string" && value.length > 0 ? value : null;
}

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

function checkEach<T>(kind: RefusedKind, schema: z.ZodType<T>, items: readonly unknown[], path: string,
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
  return uuid === null ? `'${clip(name)}'` : `'${clip(name)}' (${uuid})`;
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
    if (name) problems.push(duplicateProblem("name", `'${clip(name.key)}'`, name.positions));
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

/** A health report with each probe run, finding and mount checked on its own; a bad systemd fact becomes null. */
export function checkHealthReport(report: HealthEnvelope["report"]): { report: HealthReport; refused: RefusedItem[] } {
  const probes = checkEach("probe", ProbeRunSchema, report.probes, "probes", (raw) => stringField(raw, "name"));
  const findings = checkEach("finding", FindingSchema, report.findings, "findings", (raw) => {
    const code = stringField(raw, "code");
    return code === null ? null : clip(code);
  });
  const mounts = checkEach("mount", MountFactSchema, report.mounts, "mounts", (raw) => {
    const mountPoint = stringField(raw, "mountPoint");
    return mountPoint === null ? null : clip(mountPoint);
  });
  const refused = [...probes.refused, ...findings.refused, ...mounts.refused];
  const systemd = SystemdFactSchema.nullable().safeParse(report.systemd);
  if (!systemd.success) refused.push({ kind: "systemd", path: "systemd", label: null, problem: describeIssues(systemd.error), raw: report.systemd });
  return {
    report: { collectedAt: report.collectedAt, probes: probes.accepted, findings: findings.accepted, mounts: mounts.accepted,
      systemd: systemd.success ? systemd.data : null },
    refused,
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
