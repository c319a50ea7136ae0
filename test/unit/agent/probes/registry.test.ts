/**
 * The probe and fact registries agree: a probe's fact is the registry's spec
 * under the probe's name (the runner keys report.facts by that name), every
 * registered fact has its probe, and every fact gauge is in the metrics
 * reference (docs/metrics.md).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROBES } from "../../../../agent/probes/index.js";
import { FACTS, FACT_SPECS, factSpec } from "../../../../shared/facts/index.js";
import { REPO_ROOT } from "../../../helpers/run.js";

describe("the fact registry", () => {
  it("keys every fact by its probe's name, and every probe's fact is the registered one", () => {
    for (const [name, spec] of Object.entries(FACTS)) expect(spec.probe, name).toBe(name);
    for (const probe of PROBES.filter((p) => p.fact)) expect(factSpec(probe.name), probe.name).toBe(probe.fact);
    expect(FACT_SPECS.map((s) => s.probe).sort()).toEqual(PROBES.filter((p) => p.fact).map((p) => p.name).sort());
    expect(factSpec("toString")).toBeUndefined();
  });

  it("gives each gauge a unique name, host first, and lists it in docs/metrics.md", () => {
    const gauges = FACT_SPECS.flatMap((s) => s.gauges);
    expect(new Set(gauges.map((g) => g.name)).size).toBe(gauges.length);
    const reference = fs.readFileSync(path.join(REPO_ROOT, "docs/metrics.md"), "utf8");
    for (const g of gauges) {
      expect(g.name).toMatch(/^nightshift_[a-z_]+$/);
      expect(g.labelNames).not.toContain("host");
      const labels = ["host", ...g.labelNames].map((l) => `\`${l}\``).join(", ");
      expect(reference, g.name).toContain(`| \`${g.name}\` | gauge | ${labels} |`);
    }
  });
});
