/**
 * Checking YAML files an operator writes (runbooks, wave specs, maintenance
 * preferences) before anything is sent: the file parsed with the line of every
 * value, and zod's issues turned into one sentence per problem that says what
 * is expected and what was given. Which keys exist and what to do about a
 * missing one differ per file and come in an IssueContext.
 */
import fs from "node:fs";
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { UsageError } from "./errors.js";
import type { ErrorCode } from "../shared/error-codes.js";

/** A parsed YAML file: its data and where each key sits in it. */
export interface YamlMapping {
  /** The file name as given (or "stdin"), used in messages. */
  source: string;
  data: Record<string, unknown>;
  /** 1-based line of the value at `path` (or of its nearest parent in the file); null when not in the file. */
  lineOf(path: readonly PropertyKey[]): number | null;
  /** 1-based line of the key `key` inside the mapping at `parent`. */
  lineOfKey(parent: readonly PropertyKey[], key: string): number | null;
}

/** What kind of file it is, for messages: the error code, "runbook", what its top level holds. */
export interface YamlFileKind {
  code: ErrorCode;
  /** "runbook", "wave spec", ... */
  what: string;
  /** "a mapping of run options such as vms, patch and reboot (see nightshift run start --help)" */
  expected: string;
}

/** Parses YAML text that must be a mapping; YAML errors and other top levels are errors naming FILE:LINE:COLUMN. */
export function parseYamlMapping(text: string, source: string, kind: YamlFileKind): YamlMapping {
  const fail = (message: string) => new UsageError(kind.code, message);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const first = doc.errors[0];
  if (first) {
    const [pos] = first.linePos ?? [];
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    throw fail(`${where}: ${first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")} (the ${kind.what} is YAML)`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw fail(`${source}: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) throw fail(`${source} is empty: expected ${kind.expected}`);
  if (typeof data !== "object" || Array.isArray(data)) throw fail(`${source}: expected ${kind.expected}, got ${describeType(data)}`);
  return {
    source,
    data: data as Record<string, unknown>,
    lineOf: (path) => lineOfPath(doc, lines, path),
    lineOfKey: (parent, key) => {
      const node = parent.length === 0 ? doc.contents : doc.getIn(parent as unknown[], true);
      if (!isMap(node)) return null;
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      const offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
      return offset === undefined ? null : lines.linePos(offset).line;
    },
  };
}

function lineOfPath(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | null {
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    if (offset !== undefined) return lines.linePos(offset).line;
  }
  return null;
}

/** Reads a YAML file ("-" is standard input). */
export function readYamlMapping(file: string, kind: YamlFileKind, readStdin: () => string = () => fs.readFileSync(0, "utf8")): YamlMapping {
  if (file === "-") return parseYamlMapping(readStdin(), "stdin", kind);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" :
      code === "EISDIR" ? "it is a directory" : (err as Error).message;
    throw new UsageError(kind.code, `cannot read ${kind.what} ${file}: ${why}`);
  }
  return parseYamlMapping(text, file, kind);
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** One problem: where (a path in the checked value) and what is wrong. */
export interface SpecProblem {
  path: PropertyKey[];
  message: string;
}

/** What the describer needs to know about one kind of file. */
export interface IssueContext {
  /** Known keys of the mapping at a path, by the path's keys without list indexes ("" top level, "waves.select"). */
  knownKeys: Readonly<Record<string, readonly string[]>>;
  /** What to do when the key at a path (same spelling) is missing. */
  missingHints?: Readonly<Record<string, string>>;
  /** Keys whose values are durations (a number there gets "text with a unit"). */
  durationKeys?: ReadonlySet<string>;
  /** Added to the custom message of the refinement on the mapping at a path ("verify"). */
  customNotes?: Readonly<Record<string, string>>;
  /** A refinement's message ends with the value given (", got \"mon 25:00\"") when it is a scalar. */
  customShowsValue?: boolean;
}

/** A path's keys without list indexes: ["waves", 2, "select", 0] -> "waves.select". */
export const shapeKey = (path: readonly PropertyKey[]): string => path.filter((k) => typeof k !== "number").map(String).join(".");

/** "waves[2].select[0].role", "verify.tcp[1]", "" for the top level. */
export function pathName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key), "");
}

type Issue = z.core.$ZodIssue;

/** Every issue of a failed parse of `root`, in words. */
export function describeIssues(issues: readonly Issue[], root: unknown, ctx: IssueContext): SpecProblem[] {
  return issues.flatMap((issue) => describeIssue(issue, [], root, ctx));
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
      if (issue.expected === "string" && ctx.durationKeys?.has(String(path[path.length - 1]))) {
        return at(`expected a duration like 90s, 15m, 1h, 3d (text with a unit), got ${describeValue(value)}`);
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
      const known = ctx.knownKeys[shapeKey(path)] ?? [];
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: `unknown key ${JSON.stringify(key)}${suggest(key, known)}${known.length ? `; known keys: ${known.join(", ")}` : ""}`,
      }));
    }
    case "invalid_format":
      if (issue.format === "url") return at(`not a valid URL: ${describeValue(value)}`);
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

export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null || typeof value === "object") return describeType(value);
  const text = JSON.stringify(value) ?? String(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return typeof value === "string" ? shown : `${typeof value} ${shown}`;
}

/** " (did you mean maxParallel?)" for max-parallel, max_parallel, maxparallel, vm, rol. */
export function suggest(key: string, known: readonly string[]): string {
  const norm = (k: string) => k.toLowerCase().replace(/[-_ ]/g, "");
  const match = known.find((k) => norm(k) === norm(key) || norm(k) === `${norm(key)}s`) ??
    (norm(key).length >= 3 ? known.find((k) => oneEditApart(norm(k), norm(key))) : undefined);
  return match ? ` (did you mean ${match}?)` : "";
}

/** One letter added, dropped or changed. */
function oneEditApart(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/**
 * "web.yaml:7: keepSnapshots" for a problem in the file (the key's own line
 * for an unknown key), or null when the path is nowhere in the file.
 */
export function locateInFile(problem: SpecProblem, file: YamlMapping): { where: string; line: number } | null {
  const last = problem.path[problem.path.length - 1];
  const line = typeof last === "string" && problem.message.startsWith("unknown key")
    ? file.lineOfKey(problem.path.slice(0, -1), last)
    : file.lineOf(problem.path);
  if (line === null) return null;
  const name = pathName(problem.path);
  return { where: `${file.source}:${line}${name ? `: ${name}` : ""}`, line };
}
