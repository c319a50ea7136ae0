/**
 * The one configuration loader, for every file an operator writes: the
 * daemons' configs (agent, controller), the CLI's settings, probe settings and
 * the spec files (runbook, plan spec, windows). It reads the YAML file with
 * the line of every key, applies environment variables (prefix + path in
 * SCREAMING_SNAKE_CASE: `liveness.missingAfter` ->
 * NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER) and flags where the caller
 * has them (file < environment < flags), parses with the zod schema, and
 * reports every problem at once, each in the same form:
 *
 *   /etc/nightshift/agent.yaml:3: maintenence: unknown key "maintenence" (did you mean maintenance?); known keys: ...
 *   --max-parallel: must be at least 1, got number 0
 *   NIGHTSHIFT_AGENT_HEARTBEAT: heartbeat: a bare number is not a duration: give its unit, like 1s or 1m
 *
 * Unknown keys are refused (the schemas are strict all the way down), and so
 * are unknown variables with the program's prefix; an old key name says what
 * it became (RenamedKeys).
 */
import { stringify as toYaml } from "yaml";
import { z } from "zod";
import { NightshiftError } from "./errors.js";
import {
  describeIssues, isPlainObject, pathName, renamedMessage, SchemaIndex, suggest,
  type IssueContext, type JsonSchema, type RenamedKey, type RenamedKeys, type SpecProblem,
} from "./config-issues.js";
import { readYamlMapping, type YamlFileKind, type YamlMapping } from "./yaml-file.js";

export type { RenamedKeys, SpecProblem } from "./config-issues.js";

export class ConfigError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_CONFIG", message);
  }
}

/** A daemon's configuration file; an empty one means every default. */
export const CONFIG_FILE: YamlFileKind = {
  code: "NS_ERR_CONFIG",
  what: "configuration file",
  expected: "a mapping of configuration keys (see docs/configuration.md)",
  allowEmpty: true,
};

export interface ConfigKey {
  path: string[];
  env: string;
  type: string;
  /** The key's schema (input side): default, description, duration, secret. */
  node: JsonSchema;
  /** No default and not optional. */
  required: boolean;
}

/** `missingAfter` -> `MISSING_AFTER`. */
export function snake(word: string): string {
  return word.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

export function envName(envPrefix: string, path: readonly string[]): string {
  return envPrefix + path.map(snake).join("_");
}

function leafType(schema: JsonSchema): string {
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return options.map(leafType).find((t) => t !== "null") ?? "string";
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== "null") : schema.type;
  return t ?? "string";
}

/** Every leaf key of a config schema, in the schema's order, with its environment variable name. */
export function configKeys(schema: z.ZodType, envPrefix: string): ConfigKey[] {
  const keys: ConfigKey[] = [];
  const walk = (node: JsonSchema, path: string[], required: boolean) => {
    const objectNode = node.properties ? node : (node.anyOf ?? node.oneOf)?.find((n) => n.properties);
    if (objectNode?.properties) {
      for (const [key, child] of Object.entries(objectNode.properties)) {
        walk(child, [...path, key], required && (objectNode.required ?? []).includes(key));
      }
      return;
    }
    keys.push({ path, env: envName(envPrefix, path), type: leafType(node), node, required });
  };
  walk(SchemaIndex.of(schema).root, [], true);
  return keys;
}

/** An environment value as its key's type; a string for the message when it is not one. */
function coerce(value: string, type: string): { value: unknown } | { problem: string } {
  switch (type) {
    case "number":
    case "integer": {
      const n = Number(value);
      if (value.trim() === "" || Number.isNaN(n)) return { problem: `expected a number, got ${JSON.stringify(value)}` };
      return { value: n };
    }
    case "boolean":
      if (/^(1|true|yes|on)$/i.test(value)) return { value: true };
      if (/^(0|false|no|off)$/i.test(value)) return { value: false };
      return { problem: `expected a boolean (true/false), got ${JSON.stringify(value)}` };
    case "array":
      return value.trim().startsWith("[") ? parseJson(value) : { value: value.split(",").map((s) => s.trim()).filter(Boolean) };
    case "object":
      return parseJson(value);
    default:
      return { value };
  }
}

function parseJson(value: string): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(value) };
  } catch {
    return { problem: `not valid JSON: ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}` };
  }
}

/** A value that does not come from the file: a flag, or what a flag stands for (--patch-exec X is patch: {exec: X}). */
export interface ConfigOverride {
  path: readonly string[];
  value: unknown;
  /** How the operator wrote it, for messages: "--listen". */
  flag?: string;
}

/**
 * Sets each defined override in `target`. One whose parent in the target is
 * not a mapping is left out, so the file's error about that parent stays.
 * Returns which flag set which dotted path.
 */
export function applyOverrides(target: Record<string, unknown>, overrides: readonly ConfigOverride[]): Map<string, string> {
  const fromFlag = new Map<string, string>();
  for (const { path, value, flag } of overrides) {
    if (value === undefined) continue;
    if (setPath(target, path, value)) fromFlag.set(path.join("."), flag ?? pathName(path));
  }
  return fromFlag;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (node[key] === undefined) node[key] = {};
    if (!isPlainObject(node[key])) return false;
    node = node[key];
  }
  node[path[path.length - 1]!] = value;
  return true;
}

/** Where a configuration's values came from, for the first line of an error. */
export interface ConfigSources {
  /** The file's name as given, or null without one. */
  file: string | null;
  /** Some value came from the environment. */
  env: boolean;
  /** Some value came from a flag. */
  flags: boolean;
}

export interface ConfigInput {
  /** The YAML file: a path to read, one already read, or none. */
  file?: string | YamlMapping | null | undefined;
  /** What the file is, for read errors (default: a daemon's configuration file, NS_ERR_CONFIG). */
  kind?: YamlFileKind;
  /** NIGHTSHIFT_AGENT_: every key can be set as PREFIX + its path; other variables with the prefix are refused. */
  envPrefix?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: readonly ConfigOverride[];
  /** The flags that can set a key, named in a message about a key that is nowhere yet ("vms (--vm): missing"). */
  flagNames?: readonly { path: readonly string[]; flag: string }[];
  renamed?: RenamedKeys;
  /** Hints and notes for the messages (the schema's own keys and durations need none). */
  context?: Omit<IssueContext, "schema" | "renamed">;
  /** Problems the schema cannot see, in the merged input. */
  extraProblems?: (input: Record<string, unknown>) => SpecProblem[];
  /** The first line of the error, without the colon. Default "invalid configuration (file F, environment P*, flags)". */
  title?: (sources: ConfigSources) => string;
  /** A last line: where the keys are documented. */
  footer?: string;
  /** What a problem at the top level is called when there is no file ("run options"). */
  topName?: string;
  /** The error to throw with the problems; default ConfigError (NS_ERR_CONFIG). */
  error?: (message: string) => Error;
}

interface Gathered {
  input: Record<string, unknown>;
  file: YamlMapping | null;
  fromFlag: Map<string, string>;
  fromEnv: Map<string, string>;
  /** Every key's variable, by dotted path (named for a key that is missing). */
  envKeys: Map<string, string>;
  problems: SpecProblem[];
}

function gather(schema: z.ZodType | null, o: ConfigInput): Gathered {
  const file = typeof o.file === "string" ? readYamlMapping(o.file, o.kind ?? CONFIG_FILE) : o.file ?? null;
  const input: Record<string, unknown> = structuredClone(file?.data ?? {});
  const problems: SpecProblem[] = [];
  const fromEnv = new Map<string, string>();
  const envKeys = new Map<string, string>();
  if (o.envPrefix && schema) {
    const env = o.env ?? process.env;
    const keys = configKeys(schema, o.envPrefix);
    for (const key of keys) envKeys.set(key.path.join("."), key.env);
    const known = new Set(keys.map((k) => k.env));
    for (const key of keys) {
      const text = env[key.env];
      if (text === undefined) continue;
      const coerced = coerce(text, key.type);
      if ("problem" in coerced) problems.push({ path: key.path, where: `${key.env}: ${key.path.join(".")}`, message: coerced.problem });
      else if (setPath(input, key.path, coerced.value)) fromEnv.set(key.path.join("."), key.env);
    }
    const renamedEnv = new Map<string, [string, RenamedKey]>(Object.entries(o.renamed ?? {}).map(([p, r]) => [envName(o.envPrefix!, p.split(".")), [p, r]]));
    for (const name of Object.keys(env).sort()) {
      if (!name.startsWith(o.envPrefix) || known.has(name)) continue;
      const renamed = renamedEnv.get(name);
      if (renamed) {
        const [oldPath, entry] = renamed;
        const newEnv = "to" in entry ? envName(o.envPrefix, [...oldPath.split(".").slice(0, -1), entry.to]) : "";
        problems.push({ path: [], where: name, message: renamedMessage(entry, env[name], newEnv, (key, text) => `${key}=${text}`) });
        continue;
      }
      const hint = suggest(name.slice(o.envPrefix.length), keys.map((k) => k.env.slice(o.envPrefix!.length)));
      problems.push({ path: [], where: name, message: `unknown variable${hint.replace("(did you mean ", `(did you mean ${o.envPrefix}`)}: ` +
        `every ${o.envPrefix}* variable must name a configuration key (see docs/configuration.md)` });
    }
  }
  const fromFlag = applyOverrides(input, o.overrides ?? []);
  return { input, file, fromFlag, fromEnv, envKeys, problems };
}

/**
 * The configuration of a program: its file, environment and flags, checked
 * against `schema`; throws (ConfigError unless `error` says otherwise) listing
 * every problem.
 */
export function loadConfig<S extends z.ZodType>(options: ConfigInput & { schema: S }): z.output<S> {
  const g = gather(options.schema, options);
  const result = options.schema.safeParse(g.input);
  const ctx: IssueContext = { ...options.context, schema: SchemaIndex.of(options.schema), ...(options.renamed ? { renamed: options.renamed } : {}) };
  const problems = [...g.problems, ...(result.success ? [] : describeIssues(result.error.issues, g.input, ctx)),
    ...(options.extraProblems?.(g.input) ?? [])];
  if (problems.length > 0) throw failure(problems, g, options);
  return result.data as z.output<S>;
}

/**
 * The merged input of a file and its flags, when `problems` finds nothing
 * wrong in it (for a spec the API checks again and fills the defaults of).
 */
export function checkConfigInput(options: ConfigInput & { problems: (input: Record<string, unknown>) => SpecProblem[] }): Record<string, unknown> {
  const g = gather(null, options);
  const problems = [...g.problems, ...options.problems(g.input)];
  if (problems.length > 0) throw failure(problems, g, options);
  return g.input;
}

/** The problems of `input` against `schema`, in words (for a checker that combines several schemas). */
export function schemaProblems(schema: z.ZodType, input: unknown, context: Omit<IssueContext, "schema"> = {}): SpecProblem[] {
  const result = schema.safeParse(input);
  return result.success ? [] : describeIssues(result.error.issues, input, { ...context, schema: SchemaIndex.of(schema) });
}

function defaultTitle(sources: ConfigSources, envPrefix: string | undefined): string {
  const parts = [
    ...(sources.file ? [`file ${sources.file}`] : []),
    ...(sources.env && envPrefix ? [`environment ${envPrefix}*`] : []),
    ...(sources.flags ? ["flags"] : []),
  ];
  return `invalid configuration${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

function failure(problems: SpecProblem[], g: Gathered, o: ConfigInput): Error {
  const located = problems.map((p, i) => ({ ...locate(p, g, o), message: p.message, i }));
  located.sort((a, b) => a.line - b.line || a.i - b.i);
  const sources: ConfigSources = { file: g.file?.source ?? null, env: g.fromEnv.size > 0, flags: g.fromFlag.size > 0 };
  const title = o.title ? o.title(sources) : defaultTitle(sources, o.envPrefix);
  const message = `${title}:\n${located.map((p) => `  ${p.where}: ${p.message}`).join("\n")}${o.footer ? `\n${o.footer}` : ""}`;
  return o.error ? o.error(message) : new ConfigError(message);
}

/**
 * Where a problem is: the flag or variable that set it (or a parent of it),
 * FILE:LINE and the key, or the key and the flags that could set it.
 * `line` orders them: flags and variables first, then the file's order.
 */
function locate(problem: SpecProblem, g: Gathered, o: ConfigInput): { where: string; line: number } {
  if (problem.where) return { where: problem.where, line: -1 };
  const keys = problem.path.map(String);
  for (let n = keys.length; n > 0; n--) {
    const prefix = keys.slice(0, n).join(".");
    const flag = g.fromFlag.get(prefix);
    if (flag) return { where: flag, line: -1 };
    const env = g.fromEnv.get(prefix);
    if (env) return { where: `${env}: ${pathName(problem.path)}`, line: -1 };
  }
  const name = pathName(problem.path);
  if (g.file) {
    const last = problem.path[problem.path.length - 1];
    const atKey = typeof last === "string" && /^(unknown key|renamed|no longer a key)/.test(problem.message);
    const line = atKey ? g.file.lineOfKey(problem.path.slice(0, -1), last) : g.file.lineOf(problem.path);
    if (line !== null) return { where: `${g.file.source}:${line}${name ? `: ${name}` : ""}`, line };
  }
  const flags = (o.flagNames ?? []).filter((f) => f.path.join(".") === keys.join(".")).map((f) => f.flag);
  if (g.envKeys.has(keys.join("."))) flags.push(g.envKeys.get(keys.join("."))!);
  if (flags.length > 0) return { where: `${name || o.topName || "configuration"} (${flags.join(" or ")})`, line: -1 };
  if (g.file) return { where: name ? `${g.file.source}: ${name}` : g.file.source, line: -1 };
  return { where: name || o.topName || "configuration", line: -1 };
}

/** The schema's default of the key at `path` as an operator writes it ("15s", "127.0.0.1:8650"); undefined without one. */
export function schemaDefault(schema: z.ZodType, path: readonly string[]): string | undefined {
  const node = SchemaIndex.of(schema).nodesAt(path).find((n) => n.default !== undefined);
  if (!node) return undefined;
  return typeof node.default === "string" ? node.default : JSON.stringify(node.default);
}

/** A flag's help text with the schema's default: "libvirt URI (default qemu:///system)". */
export function withDefault(help: string, schema: z.ZodType, path: readonly string[]): string {
  const value = schemaDefault(schema, path);
  return value === undefined ? help : `${help} (default ${value})`;
}

export const MASKED = "********";

/**
 * A loaded configuration as an operator would write it (durations as text),
 * every default filled in and every secret (`.meta({ secret: true })`) masked:
 * what `check-config` prints.
 */
export function effectiveConfig<S extends z.ZodType>(schema: S, value: z.output<S>): Record<string, unknown> {
  const encoded = z.encode(schema, value) as Record<string, unknown>;
  for (const key of configKeys(schema, "")) {
    if (key.node.secret !== true) continue;
    let node: unknown = encoded;
    for (const part of key.path.slice(0, -1)) node = isPlainObject(node) ? node[part] : undefined;
    const last = key.path[key.path.length - 1]!;
    if (isPlainObject(node) && node[last] !== undefined) node[last] = MASKED;
  }
  return encoded;
}

/** effectiveConfig as YAML, under a comment line naming the program. */
export function formatEffectiveConfig<S extends z.ZodType>(program: string, schema: S, value: z.output<S>): string {
  return `# ${program}: the effective configuration (file, environment and flags; defaults filled in; secrets masked)\n` +
    toYaml(effectiveConfig(schema, value), { lineWidth: 0 });
}
