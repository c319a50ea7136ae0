/**
 * docs/findings.md is the reference of finding codes: every code a probe or
 * the controller can raise is in it, and it lists none that nothing raises.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../helpers/run.js";

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Finding codes are NS_ strings that are not error codes (NS_ERR_). */
function codesInSources(): string[] {
  const codes = new Set<string>();
  for (const dir of ["agent", "controller", "shared"]) {
    for (const file of sourceFiles(path.join(REPO_ROOT, dir))) {
      for (const m of fs.readFileSync(file, "utf8").matchAll(/["'`](NS_(?!ERR_)[A-Z0-9_]+)["'`]/g)) codes.add(m[1]!);
    }
  }
  return [...codes].sort();
}

function codesInDocs(): string[] {
  const text = fs.readFileSync(path.join(REPO_ROOT, "docs/findings.md"), "utf8");
  // A row's first cell names one code, or several that share a meaning ("`A` / `B`").
  const firstCells = text.split("\n").filter((l) => l.startsWith("| `NS_")).map((l) => l.split("|")[1]!);
  return [...new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`(NS_[A-Z0-9_]+)`/g)].map((m) => m[1]!)))].sort();
}

describe("docs/findings.md", () => {
  it("lists exactly the finding codes the sources raise", () => {
    const sources = codesInSources();
    expect(sources.length).toBeGreaterThan(20);
    expect(codesInDocs()).toEqual(sources);
  });
});
