/**
 * YAML files an operator writes (daemon configs, the CLI's settings, probe
 * settings, runbooks, wave specs, maintenance preferences), parsed with the
 * line of every key and value so each problem can be named FILE:LINE.
 */
import fs from "node:fs";
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import { NightshiftError } from "./errors.js";
import type { ErrorCode } from "./error-codes.js";

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
  /** "runbook", "wave spec", "configuration file", ... */
  what: string;
  /** "a mapping of run options such as vms, patch and reboot (see nightshift run start --help)" */
  expected: string;
  /** An empty file is an empty mapping (a config whose defaults all apply) instead of an error. */
  allowEmpty?: boolean;
  /** The error to throw; a NightshiftError with `code` when not given. */
  error?: (code: ErrorCode, message: string) => Error;
}

function failure(kind: YamlFileKind, message: string): Error {
  return kind.error ? kind.error(kind.code, message) : new NightshiftError(kind.code, message);
}

/** Parses YAML text that must be a mapping; YAML errors and other top levels are errors naming FILE:LINE:COLUMN. */
export function parseYamlMapping(text: string, source: string, kind: YamlFileKind): YamlMapping {
  const fail = (message: string) => failure(kind, message);
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
  if (data === null || data === undefined) {
    if (!kind.allowEmpty) throw fail(`${source} is empty: expected ${kind.expected}`);
    data = {};
  }
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
    throw failure(kind, `cannot read ${kind.what} ${file}: ${why}`);
  }
  return parseYamlMapping(text, file, kind);
}

export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}
