/**
 * zod's issues in words, one sentence per problem that says what is expected
 * and what was given, for every file an operator writes (daemon configs, CLI
 * settings, probe settings, runbooks, wave specs, maintenance preferences).
 * Which keys exist, which values are durations and which keys were renamed
 * come from the schema itself (SchemaIndex) and the IssueContext.
 */
import { z } from "zod";
import { DURATION_EXAMPLES, formatDuration } from "./duration.js";
import { describeType } from "./yaml-file.js";

export { describeType };

/** One problem: where (a path in the checked value, or a place such as "--start") and what is wrong. */
export interface SpecProblem {
  path: PropertyKey[];
  message: string;
  /** Where it is, when that is not a path of the file (a flag that is not a key). */
  where?: string;
}

/** A key that is no longer read: renamed (its value converted, if it had a unit in its name) or removed. */
export type RenamedKey =
  | { to: string; unit?: "ms" | "s" | "m" | "d" }
  | { removed: string };

/** Old keys by their dotted path ("agents.heartbeatSeconds"). */
export type RenamedKeys = Readonly<Record<string, RenamedKey>>;

/** The JSON Schema zod writes for a schema's input side, as far as it is read here. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  /** Set by shared/duration.ts. */
  duration?: boolean;
  /** A value check-config masks. */
  secret?: boolean;
  /** What an optional key without a default means when unset, for the docs ("the machine's hostname"). */
  unset?: string;
}

const indexes = new WeakMap<z.ZodType, SchemaIndex>();

/** What a schema says about each path: which keys a mapping there has, whether a value is a duration. */
export class SchemaIndex {
  private constructor(readonly root: JsonSchema) {}

  static of(schema: z.ZodType): SchemaIndex {
    let index = indexes.get(schema);
    if (!index) {
      index = new SchemaIndex(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema);
      indexes.set(schema, index);
    }
    return index;
  }

  /** Every node the value at `path` may be checked against (a union has several). */
  nodesAt(path: readonly PropertyKey[]): JsonSchema[] {
    let nodes = expand(this.root);
    for (const key of path) {
      nodes = nodes.flatMap((node) => {
        if (typeof key === "number") return node.items ? expand(node.items) : [];
        const child = node.properties?.[String(key)] ??
          (typeof node.additionalProperties === "object" ? node.additionalProperties : undefined);
        return child ? expand(child) : [];
      });
    }
    return nodes;
  }

  /** The keys of the mapping at `path`; null when it takes any key (a record) or is no mapping. */
  knownKeys(path: readonly PropertyKey[]): string[] | null {
    const nodes = this.nodesAt(path).filter((n) => n.properties);
    if (nodes.length === 0) return null;
    return [...new Set(nodes.flatMap((n) => Object.keys(n.properties!)))];
  }

  isDuration(path: readonly PropertyKey[]): boolean {
    return this.nodesAt(path).some((n) => n.duration === true);
  }
}

function expand(node: JsonSchema): JsonSchema[] {
  const options = node.anyOf ?? node.oneOf;
  return options ? [node, ...options.flatMap(expand)] : [node];
}

/** What the describer needs to know about one kind of file. */
export interface IssueContext {
  /** The schema the value was checked against: known keys and durations come from it. */
  schema?: SchemaIndex;
  /** Known keys of the mapping at a path, over the schema's, by the path's keys without list indexes ("" top level, "waves.select"). */
  knownKeys?: Readonly<Record<string, readonly string[]>>;
  /** What to do when the key at a path (same spelling) is missing. */
  missingHints?: Readonly<Record<string, string>>;
  /** Added to the custom message of the refinement on the mapping at a path ("verify"). */
  customNotes?: Readonly<Record<string, string>>;
  /** A refinement's message ends with the value given (", got \"mon 25:00\"") when it is a scalar. */
  customShowsValue?: boolean;
  /** Old keys: an unknown key that is one of them says what it became. */
  renamed?: RenamedKeys;
}

/** A path's keys without list indexes: ["waves", 2, "select", 0] -> "waves.select". */
export const shapeKey = (path: readonly PropertyKey[]): string => path.filter((k) => typeof k !== "number").map(String).join(".");

/** "waves[2].select[0].role", "verify.tcp[1]", "" for the top level. */
export function pathName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key), "");
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

type Issue = z.core.$ZodIssue;

/** Every issue of a failed parse of `root`, in words. */
export function describeIssues(issues: readonly Issue[], root: unknown, ctx: IssueContext): SpecProblem[] {
  return issues.flatMap((issue) => describeIssue(issue, [], root, ctx));
}

function knownKeysAt(path: readonly PropertyKey[], ctx: IssueContext): readonly string[] {
  return ctx.knownKeys?.[shapeKey(path)] ?? ctx.schema?.knownKeys(path) ?? [];
}

function describeIssue(issue: Issue, base: PropertyKey[], root: unknown, ctx: IssueContext): SpecProblem[] {
  const path = [...base, ...issue.path];
  const value = valueAt(root, path);
  const at = (message: string): SpecProblem[] => [{ path, message }];
  if (value === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    const hint = ctx.missingHints?.[shapeKey(path)];
    return at(`missing${hint ? `: ${hint}` : ""}`);
  }
  switch (issue.code) {
    case "invalid_type":
      if (issue.expected === "string" && ctx.schema?.isDuration(path)) {
        return at(`expected a duration like ${DURATION_EXAMPLES} (text with a unit), got ${describeValue(value)}`);
      }
      return at(`expected ${issue.expected}, got ${describeValue(value)}`);
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const word = issue.code === "too_small" ? "at least" : "at most";
      if (issue.origin === "array") return at(`needs ${word} ${bound} ${Number(bound) === 1 ? "entry" : "entries"}`);
      if (issue.origin === "string") {
        return at(issue.code === "too_small" && Number(bound) === 1 ? "must not be empty" : `must be ${word} ${bound} characters long`);
      }
      if (issue.code === "too_small" && issue.inclusive === false) return at(`must be more than ${bound}, got ${describeValue(value)}`);
      return at(`must be ${word} ${bound}, got ${describeValue(value)}`);
    }
    case "invalid_value":
      return at(`must be one of ${issue.values.map((v) => String(v)).join(", ")}, got ${describeValue(value)}`);
    case "unrecognized_keys": {
      const known = knownKeysAt(path, ctx);
      return issue.keys.map((key) => {
        const renamed = ctx.renamed?.[shapeKey([...path, key])];
        if (renamed) return { path: [...path, key], message: renamedMessage(renamed, valueAt(root, [...path, key])) };
        return {
          path: [...path, key],
          message: `unknown key ${JSON.stringify(key)}${suggest(key, known)}${known.length ? `; known keys: ${known.join(", ")}` : ""}`,
        };
      });
    }
    case "invalid_format":
      if (issue.format === "url") return at(`not a valid URL: ${describeValue(value)}`);
      if (issue.format === "email") return at(`not a mail address: ${describeValue(value)}`);
      return at(`${issue.message}, got ${describeValue(value)}`);
    case "invalid_union":
      return describeUnion(issue, path, value, root, ctx);
    case "custom": {
      const key = String(path[path.length - 1] ?? "");
      const message = issue.message.startsWith(`${key}: `) ? issue.message.slice(key.length + 2) : issue.message;
      const note = ctx.customNotes?.[shapeKey(path)];
      if (note) return at(`${message} (${note})`);
      const scalar = value !== undefined && value !== null && typeof value !== "object";
      const shown = scalar && ctx.customShowsValue && !message.includes(String(value));
      return at(shown ? `${message}, got ${describeValue(value)}` : message);
    }
    default:
      return at(issue.message);
  }
}

/**
 * What an old key became: "renamed heartbeat (a duration with its unit, ...): write heartbeat: 15s"
 * (`name` and `write` say it for a file key or, with NIGHTSHIFT_..=15s, a variable), or why a removed key is gone.
 */
export function renamedMessage(renamed: RenamedKey, value: unknown, name = "to" in renamed ? renamed.to : "",
  write = (key: string, text: string) => `${key}: ${text}`): string {
  if ("removed" in renamed) return `no longer a key: ${renamed.removed}; remove it`;
  if (!renamed.unit) return `renamed ${name}: write ${write(name, typeof value === "string" ? value : JSON.stringify(value) ?? "...")}`;
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  const factor = { ms: 1, s: 1_000, m: 60_000, d: 86_400_000 }[renamed.unit];
  const ms = Math.round(n * factor);
  const converted = Number.isFinite(n) && n >= 0 && Number.isSafeInteger(ms) ? formatDuration(ms) : "DURATION";
  return `renamed ${name} (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write ${write(name, converted)}`;
}

function describeUnion(issue: Extract<Issue, { code: "invalid_union" }>, path: PropertyKey[], value: unknown, root: unknown,
  ctx: IssueContext): SpecProblem[] {
  const at = (message: string): SpecProblem[] => [{ path, message }];
  if (shapeKey(path) === "patch") {
    if (!isPlainObject(value)) return at(`expected exec: COMMAND or hook: /PATH (a mapping), got ${describeValue(value)}`);
    const unknown = Object.keys(value).filter((k) => k !== "exec" && k !== "hook");
    if (unknown.length > 0) {
      return unknown.map((key) => ({ path: [...path, key], message: `unknown key ${JSON.stringify(key)}; a patch is exec: COMMAND or hook: /PATH` }));
    }
    if ("exec" in value && "hook" in value) return at("give exec or hook, not both");
    if (!("exec" in value) && !("hook" in value)) return at("needs exec: COMMAND or hook: /PATH");
  }
  // The branch that got furthest: not refused for its type or its keys as a whole.
  const branch = issue.errors.find((issues) => issues.length > 0 &&
    issues.every((i) => i.code !== "unrecognized_keys" && !(i.code === "invalid_type" && i.path.length === 0)));
  if (branch) return branch.flatMap((i) => describeIssue(i, path, root, ctx));
  return at(`${issue.message}, got ${describeValue(value)}`);
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null || typeof value === "object") return describeType(value);
  const text = JSON.stringify(value) ?? String(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return typeof value === "string" ? shown : `${typeof value} ${shown}`;
}

/** " (did you mean maxParallel?)" for max-parallel, max_parallel, maxparallel, vm, rol, maintenence. */
export function suggest(key: string, known: readonly string[]): string {
  const norm = (k: string) => k.toLowerCase().replace(/[-_ ]/g, "");
  const match = known.find((k) => norm(k) === norm(key) || norm(k) === `${norm(key)}s`) ??
    (norm(key).length >= 3 ? known.find((k) => editDistanceAtMostOne(norm(k), norm(key))) : undefined);
  return match ? ` (did you mean ${match}?)` : "";
}

/** One letter added, dropped or changed. */
function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}
