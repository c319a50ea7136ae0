/**
 * Operator marks on a VM: "critical" and HA-group membership. They come from
 * two places, and either one marks (neither can unmark the other):
 *
 * 1. The domain XML's <metadata>, in nightshift's namespace, so the mark
 *    travels with the VM (migration, backups of the XML):
 *
 *      <metadata>
 *        <nightshift:vm xmlns:nightshift="https://nightshift.dev/xmlns/vm/1">
 *          <nightshift:critical>true</nightshift:critical>
 *          <nightshift:ha-group>dns</nightshift:ha-group>
 *        </nightshift:vm>
 *      </metadata>
 *
 *    - Any prefix (or a default xmlns) bound to the URI works; the URI is what counts.
 *    - `critical`: true/false (also yes/no, 1/0, on/off); absent means not critical.
 *    - `ha-group`: a group name (no white space, at most 128 characters); may repeat
 *      for a VM that belongs to several groups.
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
import type { ProbeSettings } from "./settings.js";

export const NIGHTSHIFT_VM_NS = "https://nightshift.dev/xmlns/vm/1";

export interface NightshiftMetadata {
  /** From <critical>; null when the element is absent. */
  critical: boolean | null;
  haGroups: string[];
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

function readVmElement(children: XmlNode[], scope: Scope, out: NightshiftMetadata): void {
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
    const text = textOf(childrenOf(child, tag));
    if (local === "critical") {
      const word = text.toLowerCase();
      const value = TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : null;
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
      out.problems.push(`unknown element <${local}> (known: critical, ha-group)`);
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
