/**
 * An item of an agent's message that the receiver refused on its own (items.ts,
 * and a fact's own check in shared/facts/), so that the rest of the message is taken.
 */
import type { z } from "zod";

export interface RefusedItem {
  /**
   * What it was, and what nightshift_agent_items_refused_total{kind} counts it as:
   * "domain", "event", "finding", "probe", a fact's kind ("mount", "systemd", ...),
   * or "fact" for a fact no probe this controller knows reports.
   */
  kind: string;
  /** Where it was in its message: "domains[3]", "facts.mounts[2]", "systemd". */
  path: string;
  /** What it names, as far as that can be read: "'web1' (uuid)", an event's id, a finding's code; null when nothing can. */
  label: string | null;
  /** What is wrong: up to 5 issues, each with its path inside the item. */
  problem: string;
  /** The item as it arrived. */
  raw: unknown;
}

export const MAX_ISSUES = 5;
/** Labels quote what the agent sent; a 10,000-character name must not become a 10,000-character error. */
const MAX_LABEL_CHARS = 120;

export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.join(".") || "(item)"}: ${i.message}`).join("; ");
}

/** A label cut to a length an error message can carry. */
export function clipLabel(text: string): string {
  return text.length > MAX_LABEL_CHARS ? `${text.slice(0, MAX_LABEL_CHARS - 1)}…` : text;
}

/** A string field of a raw item, when it is a non-empty string. */
export function stringField(raw: unknown, key: string): string | null {
  const value = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
  return typeof value === "string" && value.length > 0 ? value : null;
}
