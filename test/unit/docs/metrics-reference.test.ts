/**
 * docs/metrics.md is the metrics reference operators and alert writers read:
 * every metric the controller registers is in it with its type and labels,
 * and it names none the controller does not have.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ControllerMetrics } from "../../../controller/metrics.js";
import { Store } from "../../../controller/store/index.js";
import { REPO_ROOT } from "../../helpers/run.js";

interface MetricShape { name: string; type: string; labels: string[] }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-metrics-doc-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What the registry holds, but prom-client's process metrics (documented as one row). */
async function registered(): Promise<MetricShape[]> {
  const store = Store.open(path.join(dir, "nightshift.db"));
  try {
    const metrics = new ControllerMetrics(store, { connectedAgents: () => 0, lastSeen: () => undefined });
    const all = await metrics.registry.getMetricsAsJSON();
    const shapes = metrics.registry.getMetricsAsArray().map((m) => {
      const json = all.find((j) => j.name === (m as unknown as { name: string }).name)!;
      return { name: json.name, type: String(json.type), labels: [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])].sort() };
    });
    return shapes.filter((m) => !m.name.startsWith("nightshift_controller_")).sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    store.close();
  }
}

/** The table's rows: | `name` | type | `label`, `label` | meaning | */
function documented(): MetricShape[] {
  const text = fs.readFileSync(path.join(REPO_ROOT, "docs/metrics.md"), "utf8");
  const rows = text.split("\n").filter((l) => /^\| `nightshift_/.test(l));
  return rows.flatMap((row) => {
    const [, nameCell = "", type = "", labelCell = ""] = row.split("|").map((c) => c.trim());
    if (nameCell.includes("*")) return [];
    const labels = [...labelCell.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).sort();
    return [{ name: nameCell.replace(/`/g, ""), type, labels }];
  }).sort((a, b) => a.name.localeCompare(b.name));
}

describe("docs/metrics.md", () => {
  it("lists exactly the controller's metrics, each with its type and labels", async () => {
    const reg = await registered();
    expect(reg.length).toBeGreaterThan(20);
    expect(documented()).toEqual(reg);
  });

  it("documents prom-client's process metrics under the controller's prefix", () => {
    expect(fs.readFileSync(path.join(REPO_ROOT, "docs/metrics.md"), "utf8")).toContain("`nightshift_controller_process_*`");
  });
});
