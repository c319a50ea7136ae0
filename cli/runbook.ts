/**
 * A run's options (RunSpec) from `run start`'s flags and an optional runbook
 * YAML file (-f): the file's keys are those of RunSpecSchema, flags override
 * the file key by key (verify's keys one by one), and the result is checked
 * with RunSpecSchema before anything is sent. Every problem is reported at
 * once and says where it came from: FILE:LINE for the runbook, the flag
 * otherwise, and what is expected.
 */
import fs from "node:fs";
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { RunSpecSchema, VerifySpecSchema, type RunSpecInput } from "../shared/runs.js";
import { UsageError } from "./errors.js";

/** `run start`'s flags that are run options (commander's camelCase names). */
export interface RunSpecFlags {
  name?: string | undefined;
  vm?: string[] | undefined;
  patchExec?: string | undefined;
  patchHook?: string | undefined;
  patchTimeout?: string | undefined;
  reboot?: string | undefined;
  verifyExec?: string | undefined;
  verifyOutput?: string | undefined;
  verifyPattern?: string | undefined;
  verifyTcp?: number[] | undefined;
  verifyHttp?: string[] | undefined;
  verifyHttpStatus?: number | undefined;
  maxParallel?: number | undefined;
  maxParallelPerHost?: number | undefined;
  canary?: number | undefined;
  maxFailures?: string | number | undefined;
  keepSnapshots?: string | undefined;
  rebootIfOlderThan?: string | undefined;
  loggedInUsers?: string | undefined;
  snapshotMode?: string | undefined;
  snapshotHeadroom?: number | undefined;
  allowNoRollback?: boolean | undefined;
}

/** Each flag, its spelling on the command line, and the spec key it sets. */
const FLAGS: readonly { flag: keyof RunSpecFlags; option: string; path: readonly string[] }[] = [
  { flag: "name", option: "--name", path: ["name"] },
  { flag: "vm", option: "--vm", path: ["vms"] },
  { flag: "patchExec", option: "--patch-exec", path: ["patch"] },
  { flag: "patchHook", option: "--patch-hook", path: ["patch"] },
  { flag: "patchTimeout", option: "--patch-timeout", path: ["patchTimeout"] },
  { flag: "reboot", option: "--reboot", path: ["reboot"] },
  { flag: "verifyExec", option: "--verify-exec", path: ["verify", "exec"] },
  { flag: "verifyOutput", option: "--verify-output", path: ["verify", "output"] },
  { flag: "verifyPattern", option: "--verify-pattern", path: ["verify", "outputPattern"] },
  { flag: "verifyTcp", option: "--verify-tcp", path: ["verify", "tcp"] },
  { flag: "verifyHttp", option: "--verify-http", path: ["verify", "http"] },
  { flag: "verifyHttpStatus", option: "--verify-http-status", path: ["verify", "httpStatus"] },
  { flag: "maxParallel", option: "--max-parallel", path: ["maxParallel"] },
  { flag: "maxParallelPerHost", option: "--max-parallel-per-host", path: ["maxParallelPerHost"] },
  { flag: "canary", option: "--canary", path: ["canary"] },
  { flag: "maxFailures", option: "--max-failures", path: ["maxFailures"] },
  { flag: "keepSnapshots", option: "--keep-snapshots", path: ["keepSnapshots"] },
  { flag: "rebootIfOlderThan", option: "--reboot-if-older-than", path: ["rebootIfOlderThan"] },
  { flag: "loggedInUsers", option: "--logged-in-users", path: ["loggedInUsers"] },
  { flag: "snapshotMode", option: "--snapshot-mode", path: ["snapshotMode"] },
  { flag: "snapshotHeadroom", option: "--snapshot-headroom", path: ["snapshotHeadroom"] },
  { flag: "allowNoRollback", option: "--allow-no-rollback", path: ["allowNoRollback"] },
];

/** What to do when a required key is missing. */
const MISSING_HINTS: Record<string, string> = {
  vms: "give --vm NAME (repeatable) or vms: [NAME, ...] in the runbook",
  patch: "give --patch-exec COMMAND or --patch-hook /PATH, or patch: {exec: COMMAND} or {hook: /PATH} in the runbook",
};

const DURATION_KEYS = new Set(["patchTimeout", "keepSnapshots", "rebootIfOlderThan"]);

/** A parsed runbook file: its data and where each key sits in it. */
export interface Runbook {
  /** The file name as given (or "stdin"), used in messages. */
  source: string;
  data: Record<string, unknown>;
  /** 1-based line of the value at `path` (or of its nearest parent in the file); null when not in the file. */
  lineOf(path: readonly PropertyKey[]): number | null;
  /** 1-based line of the key `key` inside the mapping at `parent`. */
  lineOfKey(parent: readonly PropertyKey[], key: string): number | null;
}

const runbookError = (message: string) => new UsageError("NS_ERR_RUNBOOK", message);

/** Parses runbook text; YAML errors and a top level that is not a mapping are errors naming FILE:LINE:COLUMN. */
export function parseRunbook(text: string, source: string): Runbook {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const first = doc.errors[0];
  if (first) {
    const [pos] = first.linePos ?? [];
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    throw runbookError(`${where}: ${first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")} (the runbook is YAML)`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw runbookError(`${source}: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) {
    throw runbookError(`${source} is empty: expected a mapping of run options such as vms, patch and reboot (see nightshift run start --help)`);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw runbookError(`${source}: expected a mapping of run options such as vms, patch and reboot, got ${describeType(data)}`);
  }
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

/** Reads a runbook file ("-" is standard input). */
export function readRunbook(file: string, readStdin: () => string = () => fs.readFileSync(0, "utf8")): Runbook {
  if (file === "-") return parseRunbook(readStdin(), "stdin");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" :
      code === "EISDIR" ? "it is a directory" : (err as Error).message;
    throw runbookError(`cannot read runbook ${file}: ${why}`);
  }
  return parseRunbook(text, file);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The spec the flags and the file make together, and which flag set which key ("verify.tcp" -> "--verify-tcp"). */
export function mergeSpec(flags: RunSpecFlags, file: Record<string, unknown> | null): {
  spec: Record<string, unknown>;
  fromFlag: Map<string, string>;
} {
  const spec: Record<string, unknown> = structuredClone(file ?? {});
  const fromFlag = new Map<string, string>();
  for (const { flag, option, path } of FLAGS) {
    const value = flags[flag];
    if (value === undefined) continue;
    const key = path.join(".");
    if (flag === "patchExec") spec.patch = { exec: value };
    else if (flag === "patchHook") spec.patch = { hook: value };
    else if (path.length === 1) spec[path[0]!] = value;
    else {
      // Another verify key from the file stays; a verify that is not a mapping stays wrong, for the file's error.
      if (spec.verify === undefined) spec.verify = {};
      if (!isPlainObject(spec.verify)) continue;
      spec.verify[path[1]!] = value;
    }
    fromFlag.set(key, option);
  }
  return { spec, fromFlag };
}

/** One problem with the spec: where (flag, FILE:LINE or key) and what is wrong. */
export interface SpecProblem {
  path: PropertyKey[];
  message: string;
}

/** The spec, checked: the input for POST /v1/runs. Throws NS_ERR_RUN_SPEC listing every problem. */
export function buildRunSpec(flags: RunSpecFlags, runbook: Runbook | null): RunSpecInput {
  const { spec, fromFlag } = mergeSpec(flags, runbook?.data ?? null);
  const problems = specProblems(spec);
  if (problems.length === 0) return spec as RunSpecInput;
  // Flags first, then the runbook's problems in the file's order.
  const located = problems.map((p, i) => ({ ...locate(p, fromFlag, runbook), message: p.message, i }));
  located.sort((a, b) => (a.line ?? -1) - (b.line ?? -1) || a.i - b.i);
  const lines = located.map((p) => `  ${p.where}: ${p.message}`);
  const source = runbook ? ` (runbook ${runbook.source}${fromFlag.size > 0 ? " and flags" : ""})` : "";
  throw new UsageError("NS_ERR_RUN_SPEC",
    `invalid run options${source}, nothing was started:\n${lines.join("\n")}\n` +
    "Run options and runbook keys: nightshift run start --help");
}

/** Every problem RunSpecSchema finds, in words, plus what the schema cannot see (duplicate VMs, broken regexes). */
export function specProblems(spec: Record<string, unknown>): SpecProblem[] {
  const result = RunSpecSchema.safeParse(spec);
  const problems = result.success ? [] : result.error.issues.flatMap((issue) => describeIssue(issue, [], spec));
  if (Array.isArray(spec.vms)) {
    const seen = new Set<unknown>();
    spec.vms.forEach((vm, i) => {
      if (seen.has(vm)) problems.push({ path: ["vms", i], message: `${JSON.stringify(vm)} is listed twice` });
      seen.add(vm);
    });
  }
  const pattern = isPlainObject(spec.verify) ? spec.verify.outputPattern : undefined;
  if (typeof pattern === "string") {
    try {
      new RegExp(pattern.replaceAll("{vm}", "vm"));
    } catch (err) {
      problems.push({ path: ["verify", "outputPattern"], message: `not a valid regular expression: ${(err as Error).message}` });
    }
  }
  return problems;
}

type Issue = z.core.$ZodIssue;

const KNOWN_KEYS: Record<string, readonly string[]> = {
  "": Object.keys(RunSpecSchema.shape),
  verify: Object.keys(VerifySpecSchema.shape),
  patch: ["exec", "hook"],
};

function describeIssue(issue: Issue, base: PropertyKey[], spec: unknown): SpecProblem[] {
  const path = [...base, ...issue.path];
  const value = valueAt(spec, path);
  const at = (message: string): SpecProblem[] => [{ path, message }];
  if (value === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    const hint = MISSING_HINTS[path.join(".")];
    return at(`missing${hint ? `: ${hint}` : ""}`);
  }
  switch (issue.code) {
    case "invalid_type":
      if (issue.expected === "string" && DURATION_KEYS.has(String(path[path.length - 1]))) {
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
      return at(`must be ${word} ${bound}, got ${describeValue(value)}`);
    }
    case "invalid_value":
      return at(`must be one of ${issue.values.map((v) => String(v)).join(", ")}, got ${describeValue(value)}`);
    case "unrecognized_keys": {
      const known = KNOWN_KEYS[path.join(".")] ?? [];
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: `unknown key ${JSON.stringify(key)}${suggest(key, known)}${known.length ? `; known keys: ${known.join(", ")}` : ""}`,
      }));
    }
    case "invalid_format":
      if (issue.format === "url") return at(`not a valid URL: ${describeValue(value)}`);
      return at(`${issue.message}, got ${describeValue(value)}`);
    case "invalid_union":
      return describeUnion(issue, path, value, spec);
    case "custom": {
      const key = String(path[path.length - 1] ?? "");
      const message = issue.message.startsWith(`${key}: `) ? issue.message.slice(key.length + 2) : issue.message;
      // The refinement on verify as a whole: say it in flags too.
      if (path.join(".") === "verify") return at(`${message} (--verify-output and --verify-pattern check the output of --verify-exec)`);
      return at(message);
    }
    default:
      return at(issue.message);
  }
}

function describeUnion(issue: Extract<Issue, { code: "invalid_union" }>, path: PropertyKey[], value: unknown, spec: unknown): SpecProblem[] {
  const at = (message: string): SpecProblem[] => [{ path, message }];
  if (path.join(".") === "patch") {
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
  if (branch) return branch.flatMap((i) => describeIssue(i, path, spec));
  return at(`${issue.message}, got ${describeValue(value)}`);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null || typeof value === "object") return describeType(value);
  const text = JSON.stringify(value) ?? String(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return typeof value === "string" ? shown : `${typeof value} ${shown}`;
}

/** " (did you mean maxParallel?)" for max-parallel, max_parallel, maxparallel, vm. */
function suggest(key: string, known: readonly string[]): string {
  const norm = (k: string) => k.toLowerCase().replace(/[-_ ]/g, "");
  const match = known.find((k) => norm(k) === norm(key) || norm(k) === `${norm(key)}s`);
  return match ? ` (did you mean ${match}?)` : "";
}

/** "--max-parallel", "web.yaml:7: keepSnapshots" (with its line), or "vms (--vm)" for a key that is nowhere yet. */
function locate(problem: SpecProblem, fromFlag: Map<string, string>, runbook: Runbook | null): { where: string; line: number | null } {
  const keys = problem.path.map(String);
  for (let n = keys.length; n > 0; n--) {
    const flag = fromFlag.get(keys.slice(0, n).join("."));
    if (flag) return { where: flag, line: null };
  }
  const name = problem.path.reduce<string>((text, key) => typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key), "");
  if (runbook) {
    const last = problem.path[problem.path.length - 1];
    const line = typeof last === "string" && problem.message.startsWith("unknown key")
      ? runbook.lineOfKey(problem.path.slice(0, -1), last)
      : runbook.lineOf(problem.path);
    if (line !== null) return { where: `${runbook.source}:${line}: ${name}`, line };
  }
  const flags = FLAGS.filter((f) => f.path.join(".") === keys.join(".")).map((f) => f.option);
  return { where: flags.length > 0 ? `${name || "run options"} (${flags.join(" or ")})` : name || "run options", line: null };
}
