/**
 * Reference tables of a configuration schema, in Markdown: one row per key
 * with its environment variable, its default and its meaning (the key's
 * `.describe()`). docs/configuration.md is made of these (scripts/docs.ts),
 * so the docs cannot drift from what the programs read.
 */
import type { z } from "zod";
import { configKeys, type ConfigKey } from "./config.js";
import { renamedMessage, type JsonSchema, type RenamedKeys } from "./config-issues.js";

export interface ConfigTableOptions {
  /** NIGHTSHIFT_AGENT_: every key's variable is the prefix and its path. Without it, only keys with an `env` in their meta have one. */
  envPrefix?: string;
  /** The flags that set keys, by dotted path. */
  flags?: Readonly<Record<string, string>>;
}

/** A table cell: no line breaks, no unescaped pipes. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
}

function code(text: string): string {
  return `\`${text}\``;
}

function defaultCell(key: ConfigKey): string {
  const node = key.node as JsonSchema & { default?: unknown };
  if (node.default !== undefined) {
    const value = node.default;
    if (Array.isArray(value) && value.length === 0) return "none";
    return code(typeof value === "string" ? value : JSON.stringify(value));
  }
  if (key.required) return "required";
  return node.unset ?? "unset";
}

/** How a value of this type is written in a variable: lists comma-separated or JSON, mappings JSON. */
function envForm(key: ConfigKey): string {
  if (key.type === "array") return " (a list: comma-separated or JSON)";
  if (key.type === "object") return " (JSON)";
  return "";
}

function meaning(key: ConfigKey, options: ConfigTableOptions): string {
  const node = key.node as JsonSchema & { enum?: unknown[] };
  const parts = [node.description ?? ""];
  if (node.enum) parts.push(`One of ${node.enum.map((v) => code(String(v))).join(", ")}.`);
  if (node.secret) parts.push("Masked by `check-config`.");
  const flag = options.flags?.[key.path.join(".")] ?? (key.node as { flag?: string }).flag;
  if (flag) parts.push(`Flag: ${code(flag)}.`);
  return parts.filter(Boolean).join(" ");
}

/** One table: key, environment variable, default, meaning, in the schema's order. */
export function configTable(schema: z.ZodType, options: ConfigTableOptions = {}): string {
  const rows = configKeys(schema, options.envPrefix ?? "").map((key) => {
    const env = options.envPrefix ? key.env : (key.node as { env?: string }).env;
    return `| ${code(key.path.join("."))} | ${env ? `${code(env)}${envForm(key)}` : "-"} | ${cell(defaultCell(key))} | ${cell(meaning(key, options))} |`;
  });
  return ["| key | environment | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n") + "\n";
}

const EXAMPLE_VALUE = { ms: 500, s: 15, m: 45, d: 90 } as const;

/** Old keys and what became of them, as the loader tells an operator whose file still has them. */
export function renamedTable(renamed: RenamedKeys): string {
  const rows = Object.entries(renamed).map(([old, entry]) => {
    const parent = old.split(".").slice(0, -1);
    const now = "to" in entry ? code([...parent, entry.to].join(".")) : "removed";
    let example = "removed" in entry ? entry.removed : "";
    if ("to" in entry && entry.unit) {
      const n = EXAMPLE_VALUE[entry.unit];
      const written = renamedMessage(entry, n).replace(/^.*: write /, "");
      example = `${code(`${old.split(".").pop()}: ${n}`)} is now ${code(written)}`;
    }
    return `| ${code(old)} | ${now} | ${cell(example)} |`;
  });
  return ["| old key | now | example |", "| --- | --- | --- |", ...rows].join("\n") + "\n";
}

/** The number of keys of a schema, for the docs' counts. */
export function keyCount(schema: z.ZodType): number {
  return configKeys(schema, "").length;
}
