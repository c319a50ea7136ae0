/**
 * Configuration: one zod schema per program, read from a YAML file, every key
 * overridable by an environment variable named after its path
 * (prefix + path in SCREAMING_SNAKE_CASE: `liveness.missingAfterSeconds` ->
 * NIGHTSHIFT_LIVENESS_MISSING_AFTER_SECONDS), then by command-line flags.
 */
import fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { NightshiftError } from "./errors.js";

export class ConfigError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_CONFIG", message);
  }
}

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; anyOf?: JsonSchema[]; items?: JsonSchema };

export interface ConfigKey {
  path: string[];
  env: string;
  type: string;
}

function snake(word: string): string {
  return word.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

function leafType(schema: JsonSchema): string {
  if (schema.anyOf) return schema.anyOf.map(leafType).find((t) => t !== "null") ?? "string";
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== "null") : schema.type;
  return t ?? "string";
}

/** Every leaf key of a config schema with its environment variable name. */
export function configKeys(schema: z.ZodType, envPrefix: string): ConfigKey[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const keys: ConfigKey[] = [];
  const walk = (node: JsonSchema, path: string[]) => {
    const objectNode = node.properties ? node : node.anyOf?.find((n) => n.properties);
    if (objectNode?.properties) {
      for (const [key, child] of Object.entries(objectNode.properties)) walk(child, [...path, key]);
      return;
    }
    keys.push({ path, env: envPrefix + path.map(snake).join("_"), type: leafType(node) });
  };
  walk(json, []);
  return keys;
}

function coerce(value: string, type: string, env: string): unknown {
  switch (type) {
    case "number":
    case "integer": {
      const n = Number(value);
      if (value.trim() === "" || Number.isNaN(n)) throw new ConfigError(`${env}=${JSON.stringify(value)} is not a number`);
      return n;
    }
    case "boolean":
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      throw new ConfigError(`${env}=${JSON.stringify(value)} is not a boolean (true/false)`);
    case "array":
      return value.trim().startsWith("[") ? parseJson(value, env) : value.split(",").map((s) => s.trim()).filter(Boolean);
    case "object":
      return parseJson(value, env);
    default:
      return value;
  }
}

function parseJson(value: string, env: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(`${env}=${JSON.stringify(value)} is not valid JSON`);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadConfigOptions<S extends z.ZodType> {
  schema: S;
  envPrefix: string;
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, by path; they win over file and environment. */
  overrides?: { path: string[]; value: unknown }[];
}

export function loadConfig<S extends z.ZodType>(options: LoadConfigOptions<S>): z.infer<S> {
  let raw: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = fs.readFileSync(options.file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`config file ${options.file} must hold a YAML mapping`);
  }
  const env = options.env ?? process.env;
  for (const key of configKeys(options.schema, options.envPrefix)) {
    const value = env[key.env];
    if (value !== undefined) setPath(raw, key.path, coerce(value, key.type, key.env));
  }
  for (const { path, value } of options.overrides ?? []) if (value !== undefined) setPath(raw, path, value);
  const result = options.schema.safeParse(raw);
  if (!result.success) {
    const where = options.file ? ` (file ${options.file}, environment ${options.envPrefix}*)` : ` (environment ${options.envPrefix}*)`;
    throw new ConfigError(`invalid configuration${where}: ` +
      result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  }
  return result.data;
}
