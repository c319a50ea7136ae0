/** The pre-parse look at a JSON text's structure agrees with the structure JSON.parse builds. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { jsonShapeProblem } from "../../../../shared/protocol/json-shape.js";

/** Depth (1 for a flat array or object, 0 for a scalar), the most entries of any array or object, and the entries of all of them. */
function measure(value: unknown): { depth: number; widest: number; entries: number } {
  if (value === null || typeof value !== "object") return { depth: 0, widest: 0, entries: 0 };
  const children = Array.isArray(value) ? value : Object.values(value as object);
  let depth = 0;
  let widest = children.length;
  let entries = children.length;
  for (const child of children) {
    const m = measure(child);
    depth = Math.max(depth, m.depth);
    widest = Math.max(widest, m.widest);
    entries += m.entries;
  }
  return { depth: depth + 1, widest, entries };
}

const limits = (maxDepth: number, maxItems: number, maxEntries = Infinity) => ({ maxDepth, maxItems, maxEntries });

describe("jsonShapeProblem", () => {
  it("refuses exactly the texts nested deeper or wider than the limits (property)", () => {
    const text = fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v));
    fc.assert(fc.property(text, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (json, maxDepth, maxItems) => {
      const { depth, widest } = measure(JSON.parse(json));
      const problem = jsonShapeProblem(json, limits(maxDepth, maxItems));
      // Both may apply; the scan reports whichever it meets first.
      const applies = [...(depth > maxDepth ? ["too-deep"] : []), ...(widest > maxItems ? ["too-many-items"] : [])];
      if (applies.length === 0) expect(problem).toBeNull();
      else expect(applies).toContain(problem?.kind);
    }), { seed: 8_650, numRuns: 3_000 });
  });

  it("refuses exactly the texts with more entries in all than the total limit (property; white space anywhere)", () => {
    const text = fc.tuple(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(undefined, 1, "\t")).map(([v, indent]) => JSON.stringify(v, null, indent));
    fc.assert(fc.property(text, fc.integer({ min: 0, max: 40 }), (json, maxEntries) => {
      const { entries } = measure(JSON.parse(json));
      const problem = jsonShapeProblem(json, limits(64, 1_000, maxEntries));
      if (entries <= maxEntries) expect(problem).toBeNull();
      else expect(problem?.kind).toBe("too-many-entries");
    }), { seed: 8_651, numRuns: 3_000 });
  });

  it("counts empty arrays and objects as no entries", () => {
    expect(jsonShapeProblem('[[], {}, [ ], { }]', limits(4, 10, 4))).toBeNull();
    expect(jsonShapeProblem('[[], {}, [ ], { }]', limits(4, 10, 3))?.kind).toBe("too-many-entries");
  });

  it("counts no brackets or commas inside strings, escaped quotes included", () => {
    expect(jsonShapeProblem(JSON.stringify({ a: "[[[[,,,,{{{{", b: 'x\\"[[[[', c: "\\\\" }), limits(2, 3, 3))).toBeNull();
    expect(jsonShapeProblem('["\\\\",[[1]]]', limits(2, 3))?.kind).toBe("too-deep");
  });

  it("stops at the first level over the limit without reading the rest", () => {
    const deep = "[".repeat(2_000_000);
    const t0 = performance.now();
    expect(jsonShapeProblem(deep, limits(32, 20_000, 600_000))).toEqual({ kind: "too-deep", detail: expect.stringMatching(/deeper than 32/) });
    expect(performance.now() - t0).toBeLessThan(50);
  });
});
