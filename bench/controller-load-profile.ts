/**
 * A flame summary of a V8 .cpuprofile (from `node --cpu-prof`), optionally
 * cut to a time window: where the controller's CPU went during one phase of
 * bench/controller-load.ts. Self time by function, inclusive time by
 * function, and self time by package (zod, ws, better-sqlite3, pino, ...).
 *
 *   node dist/bench/controller-load-profile.js FILE.cpuprofile [FROM_MS TO_MS]
 *
 * FROM/TO are CLOCK_MONOTONIC ms, the clock of V8's profile timestamps and of
 * `monoMs()`, so the driver can pass its phase boundaries.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  windowMs: number;
  sampledMs: number;
  self: { name: string; ms: number; pct: number }[];
  inclusive: { name: string; ms: number; pct: number }[];
  byPackage: { name: string; ms: number; pct: number }[];
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (!url) return functionName || "(anonymous native)";
  const short = url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "").replace(/^.*\/dist\//, "");
  return `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
}

function packageOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (!url) {
    if (functionName.startsWith("(")) return functionName; // (garbage collector), (program), (idle)
    return "native (better-sqlite3 statements, crypto, JSON, ...)";
  }
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith("node:")) return "node core";
  const d = /\/dist\/([^/]+\/[^/]+)/.exec(url);
  return d ? `nightshift ${d[1]}` : url;
}

export function summarizeProfile(file: string, fromMs = -Infinity, toMs = Infinity, top = 20): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let t = profile.startTime;
  let sampled = 0;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const atMs = t / 1000;
    if (atMs < fromMs || atMs > toMs) continue;
    // A sample stands for the time until the next one.
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === "(idle)") continue;
    first = Math.min(first, atMs);
    last = Math.max(last, atMs);
    sampled += dt;
    add(self, frameName(node), dt);
    add(byPackage, packageOf(node), dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const name = frameName(byId.get(id)!);
      if (seen.has(name)) continue;
      seen.add(name);
      add(inclusive, name, dt);
    }
  }
  const rank = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, ms]) => ({ name, ms, pct: (100 * ms) / Math.max(sampled, 1e-9) }));
  return {
    windowMs: Number.isFinite(fromMs) && Number.isFinite(toMs) ? toMs - fromMs : last - first, sampledMs: sampled,
    self: rank(self, top),
    inclusive: rank(inclusive, top * 2).filter((r) => !r.name.startsWith("(root)")),
    byPackage: rank(byPackage, top),
  };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const lines = [`${title}: ${(s.sampledMs / 1000).toFixed(2)} s on CPU in a ${(s.windowMs / 1000).toFixed(2)} s window`];
  const table = (head: string, rows: ProfileSummary["self"]) => {
    lines.push(`  ${head}`);
    for (const r of rows) lines.push(`    ${r.ms.toFixed(0).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)} %  ${r.name}`);
  };
  table("self time by package", s.byPackage);
  table("self time by function", s.self);
  table("inclusive time by function", s.inclusive);
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, from, to] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: controller-load-profile FILE.cpuprofile [FROM_MS TO_MS]\n");
    process.exit(2);
  }
  console.log(formatSummary(file, summarizeProfile(file, from ? Number(from) : -Infinity, to ? Number(to) : Infinity)));
}
