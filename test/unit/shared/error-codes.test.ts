/**
 * The error registry against the code and the docs: every NS_ERR code the
 * sources name is registered, every registered code is used, no code is built
 * at run time, and docs/errors.md is what the registry generates.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_AREAS, ERROR_CODES, isErrorCode, isHttpErrorCode, httpStatus, type ErrorCodeInfo } from "../../../shared/error-codes.js";
import { ERRORS_DOC, renderErrorsDoc } from "../../../scripts/docs/errors.js";
import { REPO_ROOT } from "../../helpers/run.js";
import { DOCUMENTED_STATUSES } from "../../helpers/fuzz.js";

const SOURCE_DIRS = ["agent", "controller", "shared", "cli", "bench", "scripts"];
const REGISTRY = path.join("shared", "error-codes.ts");

function sourceFiles(dir: string): string[] {
  const full = path.join(REPO_ROOT, dir);
  if (!fs.existsSync(full)) return [];
  return (fs.readdirSync(full, { recursive: true, encoding: "utf8" }))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f));
}

const sources = SOURCE_DIRS.flatMap(sourceFiles).map((file) => ({ file, text: fs.readFileSync(path.join(REPO_ROOT, file), "utf8") }));
const codes = Object.keys(ERROR_CODES);

/** Every NS_ERR_... in a text with its line; one ending in `_` is a prefix (`NS_ERR_STEP_*`, "an NS_ERR_ code"). */
function mentions(text: string): { name: string; line: number }[] {
  return [...text.matchAll(/NS_ERR_[A-Z0-9_]*/g)].map((m) => ({ name: m[0], line: text.slice(0, m.index).split("\n").length }));
}

describe("the error registry", () => {
  it("has well-formed entries", () => {
    expect(codes.length).toBeGreaterThan(0);
    for (const [code, info] of Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][]) {
      expect(code, code).toMatch(/^NS_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      expect(Object.keys(ERROR_AREAS), code).toContain(info.area);
      expect(info.meaning.trim(), `${code}: meaning`).not.toBe("");
      expect(info.remedy.trim(), `${code}: remedy`).not.toBe("");
      if (info.status !== undefined) expect(info.status >= 400 && info.status <= 599, `${code}: status ${info.status}`).toBe(true);
    }
    for (const area of Object.keys(ERROR_AREAS)) {
      expect(Object.values(ERROR_CODES).some((info) => info.area === area), `area ${area} has no code`).toBe(true);
    }
  });

  it("knows its codes and their statuses", () => {
    expect(isErrorCode("NS_ERR_NO_PLAN")).toBe(true);
    expect(isErrorCode("NS_ERR_NOPE")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
    expect(isHttpErrorCode("NS_ERR_NO_PLAN")).toBe(true);
    expect(isHttpErrorCode("NS_ERR_STORE")).toBe(false);
    expect(httpStatus("NS_ERR_NO_PLAN")).toBe(404);
    expect(httpStatus("NS_ERR_UNAUTHORIZED")).toBe(401);
  });

  it("gives only statuses the fuzz suites accept (500 is a bug's)", () => {
    const statuses = Object.values(ERROR_CODES).flatMap((info: ErrorCodeInfo) => (info.status === undefined ? [] : [info.status]));
    expect(statuses.filter((s) => s !== 500 && !DOCUMENTED_STATUSES.has(s))).toEqual([]);
  });

  it("registers every NS_ERR code the sources name", () => {
    const unknown: string[] = [];
    for (const { file, text } of sources) {
      for (const { name, line } of mentions(text)) {
        const known = name.endsWith("_") ? codes.some((c) => c.startsWith(name)) : isErrorCode(name);
        if (!known) unknown.push(`${file}:${line} ${name}`);
      }
    }
    expect(unknown, `not in ${REGISTRY}`).toEqual([]);
  });

  it("builds no code at run time", () => {
    const built: string[] = [];
    for (const { file, text } of sources) {
      for (const m of text.matchAll(/NS_ERR_[A-Z0-9_]*(\$\{|["'`]\s*\+)/g)) {
        built.push(`${file}:${text.slice(0, m.index).split("\n").length} ${m[0]}`);
      }
    }
    expect(built).toEqual([]);
  });

  it("has no entry the sources do not use", () => {
    const used = new Set(sources.filter((s) => s.file !== REGISTRY).flatMap((s) => mentions(s.text).map((m) => m.name)));
    expect(codes.filter((c) => !used.has(c))).toEqual([]);
  });

  it(`${ERRORS_DOC} is what the registry generates (npm run docs)`, () => {
    const file = path.join(REPO_ROOT, ERRORS_DOC);
    expect(fs.existsSync(file), `${ERRORS_DOC} is missing: npm run docs`).toBe(true);
    expect(fs.readFileSync(file, "utf8"), `${ERRORS_DOC} is out of date: npm run docs`).toBe(renderErrorsDoc());
  });

  it(`${ERRORS_DOC} lists every code, with its status`, () => {
    const doc = renderErrorsDoc();
    for (const [code, info] of Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][]) {
      expect(doc, code).toContain(`| \`${code}\` | ${info.status ?? ""} |`);
    }
  });

  it("README names only registered codes and points to the list", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const unknown = mentions(readme).filter(({ name }) => (name.endsWith("_") ? !codes.some((c) => c.startsWith(name)) : !isErrorCode(name)));
    expect(unknown.map(({ name, line }) => `README.md:${line} ${name}`)).toEqual([]);
    // "404 `NS_ERR_NO_PLAN`": a status README gives a code is the registry's.
    const statuses = [...readme.matchAll(/\b([1-5]\d\d) `(NS_ERR_[A-Z0-9_]+)`/g)]
      .filter((m) => isErrorCode(m[2]!))
      .map((m) => ({ said: `${m[1]} ${m[2]}`, registered: `${(ERROR_CODES[m[2] as keyof typeof ERROR_CODES] as ErrorCodeInfo).status ?? "none"} ${m[2]}` }));
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s.said !== s.registered)).toEqual([]);
    const section = readme.slice(readme.indexOf("\n## Errors\n"), readme.indexOf("\n## ", readme.indexOf("\n## Errors\n") + 1));
    expect(section).toContain(`(${ERRORS_DOC})`);
  });
});
