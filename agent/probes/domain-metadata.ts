/**
 * Operator marks on a VM: "critical", HA-group membership, and its maintenance
 * membership (group, roles, tested, slot length) for the planner. They come from
 * the domain XML's <metadata> and, for critical and HA groups, also from the
 * agent's settings; either one marks (neither can unmark the other):
 *
 * 1. The domain XML's <metadata>, in nightshift's namespace, so the mark
 *    travels with the VM (migration, backups of the XML). libvirt keeps one
 *    element per namespace, so everything is inside the one <vm>:
 *
 *      <metadata>
 *        <nightshift:vm xmlns:nightshift="https://nightshift.dev/xmlns/vm/1">
 *          <nightshift:critical>true</nightshift:critical>
 *          <nightshift:ha-group>dns</nightshift:ha-group>
 *          <nightshift:maintenance group="acme" tested="yes" minutes="45">
 *            <nightshift:role>production</nightshift:role>
 *          </nightshift:maintenance>
 *        </nightshift:vm>
 *      </metadata>
 *
 *    - Any prefix (or a default xmlns) bound to the URI works; the URI is what counts.
 *    - `critical`: true/false (also yes/no, 1/0, on/off); absent means not critical.
 *    - `ha-group`: a group name (no white space, at most 128 characters); may repeat
 *      for a VM that belongs to several groups.
 *    - `maintenance` (at most one): puts the VM in scope for maintenance plans.
 *      Attributes (unprefixed): `group` (required; whose maintenance windows apply,
 *      no white space, at most 128 characters), `tested` (a boolean word as for
 *      `critical`, default no: the VM has verify checks), `minutes` (its slot
 *      length, above 0 and at most a week; default: the controller's 30).
 *      `role` children (repeatable, at most 16, each without white space, at most
 *      64 characters) are what waves select by. The VM's `ha-group`s (and the
 *      settings' `haGroups` for it, see withSettingsHaGroups) are its HA groups
 *      for planning too.
 *    - Set it with `virsh edit`, or without redefining the VM:
 *      `virsh metadata NAME https://nightshift.dev/xmlns/vm/1 --key nightshift --config
 *       --set '<vm><critical>true</critical><ha-group>dns</ha-group></vm>'`.
 *
 * 2. The agent's settings: `criticalVms` (VM names) and `haGroups` (group -> VM names).
 *
 * Anything in the namespace that is not understood (an unknown element, a value
 * that is not a boolean) is returned as a problem, so a typo is reported rather
 * than silently ignored.
 */
import { XMLParser } from "fast-xml-parser";
import { MAX_MAINTENANCE_HA_GROUPS, MAX_MAINTENANCE_MINUTES, MAX_MAINTENANCE_ROLES, type DomainMaintenance } from "../../shared/protocol/messages.js";
import type { ProbeSettings } from "./settings.js";

export const NIGHTSHIFT_VM_NS = "https://nightshift.dev/xmlns/vm/1";

/** A VM's <maintenance> element: its membership for maintenance planning. */
export interface VmMaintenanceMark {
  group: string;
  /** In document order, without duplicates. */
  roles: string[];
  tested: boolean;
  /** From `minutes`; null when not given (the controller's default applies). */
  estimatedMinutes: number | null;
}

export interface NightshiftMetadata {
  /** From <critical>; null when the element is absent. */
  critical: boolean | null;
  haGroups: string[];
  /** From <maintenance>; absent when there is none (or it has no valid group). */
  maintenance?: VmMaintenanceMark;
  /** What in the namespace could not be understood, for the operator. */
  problems: string[];
}

export interface VmMarks {
  critical: boolean;
  /** Sorted, without duplicates. */
  haGroups: string[];
  /** Where the critical mark came from (empty when not critical). */
  criticalFrom: ("metadata" | "settings")[];
}

// preserveOrder gives a uniform tree (arrays of nodes, attributes under ":@"),
// which makes a namespace-aware walk simple whatever the prefixes are.
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

type XmlNode = Record<string, unknown>;
type Scope = ReadonlyMap<string, string>;

const TRUE_WORDS = new Set(["true", "yes", "1", "on"]);
const FALSE_WORDS = new Set(["false", "no", "0", "off"]);
const GROUP_RE = /^\S{1,128}$/;
const ROLE_RE = /^\S{1,64}$/;

function booleanWord(text: string): boolean | null {
  const word = text.trim().toLowerCase();
  return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : null;
}

function tagOf(node: XmlNode): string | null {
  for (const key of Object.keys(node)) if (key !== ":@" && key !== "#text") return key;
  return null;
}

function childrenOf(node: XmlNode, tag: string): XmlNode[] {
  const value = node[tag];
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}

/** The scope inside an element: its xmlns / xmlns:p declarations over the parent's. */
function scopeOf(node: XmlNode, parent: Scope): Scope {
  const attrs = node[":@"];
  if (!attrs || typeof attrs !== "object") return parent;
  let scope: Map<string, string> | null = null;
  for (const [key, value] of Object.entries(attrs as Record<string, unknown>)) {
    if (typeof value !== "string") continue;
    const prefix = key === "@xmlns" ? "" : key.startsWith("@xmlns:") ? key.slice("@xmlns:".length) : null;
    if (prefix === null) continue;
    scope ??= new Map(parent);
    scope.set(prefix, value);
  }
  return scope ?? parent;
}

function resolve(tag: string, scope: Scope): { ns: string | null; local: string } {
  const colon = tag.indexOf(":");
  const prefix = colon >= 0 ? tag.slice(0, colon) : "";
  return { ns: scope.get(prefix) ?? null, local: colon >= 0 ? tag.slice(colon + 1) : tag };
}

function textOf(children: XmlNode[]): string {
  return children.map((c) => (typeof c["#text"] === "string" ? c["#text"] : "")).join("").trim();
}

/** The attributes of an element by local name: unprefixed ones and those in nightshift's namespace. */
function attributesOf(node: XmlNode, scope: Scope): Map<string, string> {
  const attrs = new Map<string, string>();
  const raw = node[":@"];
  if (!raw || typeof raw !== "object") return attrs;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== "string" || !key.startsWith("@")) continue;
    const name = key.slice(1);
    if (name === "xmlns" || name.startsWith("xmlns:")) continue;
    const colon = name.indexOf(":");
    if (colon < 0) attrs.set(name, value);
    else if (scope.get(name.slice(0, colon)) === NIGHTSHIFT_VM_NS) attrs.set(name.slice(colon + 1), value);
  }
  return attrs;
}

function readMaintenanceElement(node: XmlNode, tag: string, scope: Scope, out: NightshiftMetadata): void {
  const attrs = attributesOf(node, scope);
  const mark: VmMaintenanceMark = { group: "", roles: [], tested: false, estimatedMinutes: null };
  for (const [name, value] of attrs) {
    if (name === "group") {
      const group = value.trim();
      if (GROUP_RE.test(group)) mark.group = group;
      else out.problems.push(`<maintenance> group must be a name without white space (1-128 characters), not "${value.slice(0, 40)}"; the VM is not in scope for plans`);
    } else if (name === "tested") {
      const tested = booleanWord(value);
      if (tested === null) out.problems.push(`<maintenance> tested must be true or false, not "${value.slice(0, 40)}" (taken as untested)`);
      else mark.tested = tested;
    } else if (name === "minutes") {
      const minutes = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
      if (minutes > 0 && minutes <= MAX_MAINTENANCE_MINUTES) mark.estimatedMinutes = minutes;
      else out.problems.push(`<maintenance> minutes must be a number above 0, at most ${MAX_MAINTENANCE_MINUTES}, not "${value.slice(0, 40)}"`);
    } else {
      out.problems.push(`unknown attribute ${name} on <maintenance> (known: group, tested, minutes)`);
    }
  }
  for (const child of childrenOf(node, tag)) {
    const childTag = tagOf(child);
    if (childTag === null) {
      if (typeof child["#text"] === "string" && child["#text"].trim() !== "") {
        out.problems.push(`stray text "${child["#text"].trim().slice(0, 40)}" in <maintenance>`);
      }
      continue;
    }
    const { ns, local } = resolve(childTag, scopeOf(child, scope));
    if (ns !== NIGHTSHIFT_VM_NS) {
      out.problems.push(`element <${childTag}> inside <maintenance> is not in namespace ${NIGHTSHIFT_VM_NS}`);
    } else if (local !== "role") {
      out.problems.push(`unknown element <${local}> in <maintenance> (known: role)`);
    } else {
      const role = textOf(childrenOf(child, childTag));
      if (!ROLE_RE.test(role)) out.problems.push(`<role> must be a name without white space (1-64 characters), not "${role.slice(0, 40)}"`);
      else if (mark.roles.includes(role)) continue;
      else if (mark.roles.length >= MAX_MAINTENANCE_ROLES) out.problems.push(`<maintenance> has more than ${MAX_MAINTENANCE_ROLES} roles; "${role}" is ignored`);
      else mark.roles.push(role);
    }
  }
  if (mark.group === "") {
    if (!attrs.has("group")) out.problems.push("<maintenance> needs a group attribute (whose maintenance windows apply); the VM is not in scope for plans");
    return;
  }
  out.maintenance = mark;
}

function readVmElement(children: XmlNode[], scope: Scope, out: NightshiftMetadata): void {
  let seenMaintenance = false;
  for (const child of children) {
    const tag = tagOf(child);
    if (tag === null) {
      if (typeof child["#text"] === "string" && child["#text"].trim() !== "") out.problems.push(`stray text "${child["#text"].trim().slice(0, 40)}" in <vm>`);
      continue;
    }
    const inner = scopeOf(child, scope);
    const { ns, local } = resolve(tag, inner);
    if (ns !== NIGHTSHIFT_VM_NS) {
      out.problems.push(`element <${tag}> inside <vm> is not in namespace ${NIGHTSHIFT_VM_NS}`);
      continue;
    }
    if (local === "maintenance") {
      if (seenMaintenance) out.problems.push("<maintenance> is given more than once; the first one counts");
      else readMaintenanceElement(child, tag, inner, out);
      seenMaintenance = true;
      continue;
    }
    const text = textOf(childrenOf(child, tag));
    if (local === "critical") {
      const value = booleanWord(text);
      if (value === null) {
        out.problems.push(`<critical> must be true or false, not "${text.slice(0, 40)}"`);
      } else if (out.critical !== null && out.critical !== value) {
        // Contradicting elements: keep the safe reading (critical) and say so.
        out.problems.push("<critical> is given twice with different values");
        out.critical = true;
      } else {
        out.critical = value;
      }
    } else if (local === "ha-group") {
      if (GROUP_RE.test(text)) {
        if (!out.haGroups.includes(text)) out.haGroups.push(text);
      } else {
        out.problems.push(`<ha-group> must be a name without white space (1-128 characters), not "${text.slice(0, 40)}"`);
      }
    } else {
      out.problems.push(`unknown element <${local}> (known: critical, ha-group, maintenance)`);
    }
  }
}

/** Reads nightshift's marks out of a domain XML. Never throws: unreadable XML is a problem. */
export function parseNightshiftMetadata(domainXml: string): NightshiftMetadata {
  const out: NightshiftMetadata = { critical: null, haGroups: [], problems: [] };
  let doc: XmlNode[];
  try {
    doc = parser.parse(domainXml) as XmlNode[];
  } catch (err) {
    out.problems.push(`domain XML could not be parsed: ${err instanceof Error ? err.message : String(err)}`);
    return out;
  }
  const domain = doc.find((n) => tagOf(n) === "domain");
  if (!domain) return out;
  const domainScope = scopeOf(domain, new Map());
  for (const meta of childrenOf(domain, "domain").filter((n) => tagOf(n) === "metadata")) {
    const metaScope = scopeOf(meta, domainScope);
    for (const el of childrenOf(meta, "metadata")) {
      const tag = tagOf(el);
      if (tag === null) continue;
      const scope = scopeOf(el, metaScope);
      const { ns, local } = resolve(tag, scope);
      if (ns === NIGHTSHIFT_VM_NS) {
        if (local === "vm") readVmElement(childrenOf(el, tag), scope, out);
        else out.problems.push(`unknown element <${local}> in namespace ${NIGHTSHIFT_VM_NS} (expected <vm>)`);
      } else if (ns !== null && /nightshift/i.test(ns)) {
        // Most likely a typo in the URI: say so instead of ignoring the marks.
        out.problems.push(`namespace "${ns}" is not nightshift's; use ${NIGHTSHIFT_VM_NS}`);
      }
    }
  }
  out.haGroups.sort();
  return out;
}

/** Metadata marks merged with the settings' `criticalVms` and `haGroups`. */
export function vmMarks(name: string, metadata: Pick<NightshiftMetadata, "critical" | "haGroups">,
  settings: Pick<ProbeSettings, "criticalVms" | "haGroups">): VmMarks {
  const criticalFrom: VmMarks["criticalFrom"] = [];
  if (metadata.critical === true) criticalFrom.push("metadata");
  if (settings.criticalVms.includes(name)) criticalFrom.push("settings");
  const groups = new Set(metadata.haGroups);
  for (const [group, members] of Object.entries(settings.haGroups)) if (members.includes(name)) groups.add(group);
  return { critical: criticalFrom.length > 0, haGroups: [...groups].sort(), criticalFrom };
}

/**
 * The VM's membership as the inventory reports it (DomainSchema.maintenance):
 * its <maintenance> element with its <ha-group>s; undefined without one.
 */
export function domainMaintenance(metadata: Pick<NightshiftMetadata, "haGroups" | "maintenance">): DomainMaintenance | undefined {
  const mark = metadata.maintenance;
  if (!mark) return undefined;
  return {
    group: mark.group, roles: mark.roles, tested: mark.tested,
    ...(metadata.haGroups.length > 0 ? { haGroups: metadata.haGroups.slice(0, MAX_MAINTENANCE_HA_GROUPS) } : {}),
    ...(mark.estimatedMinutes !== null ? { estimatedMinutes: mark.estimatedMinutes } : {}),
  };
}

/**
 * A reported membership with the HA groups the agent's settings give this VM
 * (`probes.haGroups`) added to those of its metadata, as the probes count them.
 */
export function withSettingsHaGroups(name: string, maintenance: DomainMaintenance,
  settings: Pick<ProbeSettings, "criticalVms" | "haGroups">): DomainMaintenance {
  const { haGroups } = vmMarks(name, { critical: null, haGroups: maintenance.haGroups ?? [] }, settings);
  return {
    ...maintenance,
    ...(haGroups.length > 0 ? { haGroups: haGroups.slice(0, MAX_MAINTENANCE_HA_GROUPS) } : {}),
  };
}
