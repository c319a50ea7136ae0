/**
 * Planning benchmark: the one/few/many example (deploy/examples) over generated
 * fleets (test/helpers/fleet.ts: hosts ~ VMs / 5, ~17 VMs per group, eight
 * zones, six window styles, blackouts, notice, HA pairs). Each size runs in its
 * own process so its peak RSS is that of planning that fleet and nothing else;
 * the time is buildWavePlan (wave selection + slot assignment), median of the runs.
 * The global limit grows with the fleet (VMs / 20, at least the spec's), as an
 * operator's would.
 *
 *   npm run bench:plan                 # 200, 2,000, 20,000 VMs, 5 runs each
 *   npm run bench:plan -- 500 50000    # other sizes
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";
import { parseWaveSpec } from "../shared/windows.js";
import { formatTable } from "../shared/table.js";
import { buildWavePlan, crossCheck } from "../controller/planning/waves.js";
import { generateFleet } from "../test/helpers/fleet.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const SPEC = path.resolve(here, "../../deploy/examples/one-few-many.yaml");
const NOW = Date.parse("2025-03-21T12:00:00Z");
const START = Date.parse("2025-03-24T08:00:00Z");
const RUNS = 5;
const TARGET_VMS = 20_000;
const TARGET_MS = 5_000;

interface Result {
  vms: number;
  hosts: number;
  groups: number;
  maxParallel: number;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  crossCheckMs: number;
  slots: number;
  unplaced: number;
  reasons: Record<string, number>;
  rssBeforeMB: number;
  maxRssMB: number;
  heapUsedMB: number;
}

function child(vms: number, runs: number): Result {
  const spec = parseWaveSpec(parse(fs.readFileSync(SPEC, "utf8")));
  const fleet = generateFleet({ vms, seed: 1 });
  const maxParallel = Math.max(spec.maxParallel, Math.round(vms / 20));
  const rssBefore = process.memoryUsage().rss;
  const timings: number[] = [];
  let plan: ReturnType<typeof buildWavePlan> | undefined;
  let heapUsed = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    plan = buildWavePlan(spec, fleet.machines, { preferences: fleet.preferences, now: NOW, start: START, maxParallel });
    timings.push(performance.now() - t0);
    heapUsed = Math.max(heapUsed, process.memoryUsage().heapUsed);
  }
  const t0 = performance.now();
  const problems = crossCheck(plan!, fleet.machines);
  const crossCheckMs = performance.now() - t0;
  if (problems.length !== plan!.unplaced.length) throw new Error(`cross-check found ${problems.length}, the plan ${plan!.unplaced.length}`);
  const reasons: Record<string, number> = {};
  for (const u of plan!.unplaced) reasons[u.reason] = (reasons[u.reason] ?? 0) + 1;
  timings.sort((a, b) => a - b);
  return {
    vms,
    hosts: fleet.machines.filter((m) => m.kind === "host").length,
    groups: fleet.preferences.length,
    maxParallel, runs,
    medianMs: timings[Math.floor(timings.length / 2)]!,
    minMs: timings[0]!,
    maxMs: timings[timings.length - 1]!,
    crossCheckMs,
    slots: plan!.waves.reduce((n, w) => n + w.slots.length, 0),
    unplaced: plan!.unplaced.length,
    reasons,
    rssBeforeMB: rssBefore / 1024 / 1024,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    heapUsedMB: heapUsed / 1024 / 1024,
  };
}

const args = process.argv.slice(2);
if (args[0] === "--child") {
  process.stdout.write(`${JSON.stringify(child(Number(args[1]), Number(args[2])))}\n`);
} else {
  const sizes = args.map(Number).filter((n) => n > 0);
  const results: Result[] = [];
  for (const vms of sizes.length > 0 ? sizes : [200, 2_000, 20_000]) {
    const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), "--child", String(vms), String(RUNS)],
      { maxBuffer: 1 << 20 });
    results.push(JSON.parse(stdout) as Result);
    process.stderr.write(`${vms} VMs done\n`);
  }
  console.log(formatTable(
    ["VMs", "hosts", "groups", "maxParallel", `plan ms (median of ${RUNS})`, "min-max ms", "cross-check ms", "slots", "unplaced",
      "RSS before MB", "peak RSS MB", "peak heap MB"],
    results.map((r) => [String(r.vms), String(r.hosts), String(r.groups), String(r.maxParallel), r.medianMs.toFixed(1),
      `${r.minMs.toFixed(0)}-${r.maxMs.toFixed(0)}`, r.crossCheckMs.toFixed(1), String(r.slots),
      r.unplaced === 0 ? "0" : `${r.unplaced} (${Object.entries(r.reasons).map(([k, v]) => `${k} ${v}`).join(", ")})`,
      r.rssBeforeMB.toFixed(0), r.maxRssMB.toFixed(0), r.heapUsedMB.toFixed(0)]),
  ).trimEnd());
  const big = results.find((r) => r.vms === TARGET_VMS);
  console.log(`target: 20,000 VMs < 5 s${big ? ` — ${(big.medianMs / 1000).toFixed(2)} s: ${big.medianMs < TARGET_MS ? "met" : "NOT met"}` : ""}`);
}
