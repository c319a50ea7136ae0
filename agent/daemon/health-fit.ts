/**
 * The last resort before a health report goes out: it must fit the protocol.
 * A frame above MAX_MESSAGE_BYTES is closed by the controller with 1009, the
 * agent reconnects and sends the same report again, for ever, and nothing is
 * stored; a report outside the schema's bounds is refused. The probes bound
 * their own output (caps per code); this bounds whatever gets past them:
 * strings are clipped to the schema (each fact by its own spec, shared/facts/),
 * and when the whole is still too large, findings (info first, then warning,
 * then critical) and then the items of list facts (mount facts) are dropped,
 * and one finding says so, so the controller learns that it does not see everything.
 */
import {
  MAX_FINDINGS, MAX_PROBE_RUNS, PROBE_RUN_LIMITS, SEVERITIES, clipFinding, clipText, type Finding, type HealthReport, type Severity,
} from "../../shared/protocol/findings.js";
import { FACT_SPECS, factSpec } from "../../shared/facts/index.js";
import type { FactList } from "../../shared/facts/spec.js";
import { MAX_MESSAGE_BYTES } from "../../shared/protocol/messages.js";
import { encodeMessage } from "../../shared/protocol/codec.js";

export const REPORT_TRUNCATED_CODE = "NS_HEALTH_REPORT_TRUNCATED";
/** Its `probe`: not a probe's finding, but the agent's about its own report. */
export const REPORT_TRUNCATED_PROBE = "health-report";

/** Bytes kept back for the finding that says what was dropped (its strings are clipped to well below this). */
const NOTICE_RESERVE = 8 * 1024;

export interface FittedReport {
  report: HealthReport;
  /** The encoded `health` message's size in bytes. */
  bytes: number;
  /** The size the report would have had as it came (0 when it fitted as it was). */
  originalBytes: number;
  droppedFindings: number;
  /** Items left out of each list fact, by probe (only those that lost any). */
  droppedFacts: Record<string, number>;
}

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8");
const messageBytes = (report: HealthReport): number => Buffer.byteLength(encodeMessage({ type: "health", report }), "utf8");
const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

type Facts = Record<string, unknown>;

/** A fact that is a list, with what health-fit needs of its spec. */
interface ListFact {
  probe: string;
  list: FactList<unknown>;
  items: readonly unknown[];
}

function listFacts(facts: Facts): ListFact[] {
  const lists: ListFact[] = [];
  for (const [probe, value] of Object.entries(facts)) {
    const list = factSpec(probe)?.list;
    if (list) lists.push({ probe, list, items: list.items(value) });
  }
  return lists;
}

/** The report within the schema's string and count bounds, nothing dropped yet but what the schema cannot hold. */
function clipped(report: HealthReport): HealthReport {
  const facts: Facts = {};
  // A fact of a probe the registry does not know cannot be sent (the schema refuses it); none is made (registry.test.ts).
  for (const [probe, value] of Object.entries(report.facts as Facts)) {
    const spec = factSpec(probe);
    if (spec && value !== undefined) facts[probe] = spec.clip(value);
  }
  return {
    collectedAt: report.collectedAt,
    probes: report.probes.slice(0, MAX_PROBE_RUNS).map((p) => ({
      ...p, name: clipText(p.name, PROBE_RUN_LIMITS.name), ...(p.detail === undefined ? {} : { detail: clipText(p.detail, PROBE_RUN_LIMITS.detail) }),
    })),
    findings: report.findings.map((f) => clipFinding(f)),
    facts: facts as HealthReport["facts"],
  };
}

/** Of `items` in priority order, the longest prefix whose JSON array elements fit `budget` bytes (and `maxCount`). */
function prefixThatFits<T>(items: readonly T[], budget: number, maxCount: number): number {
  let used = 0;
  let n = 0;
  for (const item of items) {
    if (n >= maxCount) break;
    const cost = bytesOf(item) + (n > 0 ? 1 : 0); // the comma between elements
    if (used + cost > budget) break;
    used += cost;
    n++;
  }
  return n;
}

const arrayBytes = (items: readonly unknown[], n: number): number => items.slice(0, n).reduce<number>((sum, x, i) => sum + bytesOf(x) + (i > 0 ? 1 : 0), 0);

/** What was left out of the lists: "2000 of 12000 mount facts". */
interface ListLoss {
  noun: string;
  dropped: number;
  total: number;
}

function notice(dropped: Finding[], findings: number, losses: readonly ListLoss[], originalBytes: number, maxBytes: number): Finding {
  const bySeverity = SEVERITIES.map((s) => [s, dropped.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  const byCode = new Map<string, number>();
  for (const f of dropped) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
  const codes = [...byCode].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([code, n]) => `${code} ×${n}`);
  const parts = [
    dropped.length ? `${dropped.length} of ${findings} findings (${bySeverity.map(([s, n]) => `${n} ${s}`).join(", ")}; ${codes.join(", ")})` : "",
    ...losses.filter((l) => l.dropped > 0).map((l) => `${l.dropped} of ${l.total} ${l.noun}`),
  ].filter(Boolean);
  const counts = [`${MAX_FINDINGS} findings`, ...listLimits()].join(" / ");
  // The worst of what the controller does not see; dropping facts alone hides no finding.
  const severity = dropped.reduce<Severity>((worst, f) => (RANK[f.severity] < RANK[worst] ? f.severity : worst), dropped.length ? "info" : "warning");
  return clipFinding({
    code: REPORT_TRUNCATED_CODE, severity, subject: "health report", probe: REPORT_TRUNCATED_PROBE,
    message: `this host's health report was ${originalBytes} bytes, more than the ${maxBytes} the protocol carries (or than its ` +
      `${counts}): ${parts.join(" and ")} were left out. They are not stored, and ` +
      "open findings among them show as resolved until a report carries them again",
    remedy: "run `nightshift-agent check` on the host for every finding, and fix the most numerous codes first (named above): once the " +
      "report fits, it is sent whole again",
  });
}

/** "10000 mount facts": the count bound of every list fact the registry has. */
function listLimits(): string[] {
  return FACT_SPECS.flatMap((spec) => (spec.list ? [`${spec.list.max} ${spec.list.noun}`] : []));
}

function withLists(report: HealthReport, lists: readonly ListFact[], kept: ReadonlyMap<string, number>): HealthReport {
  const facts: Facts = { ...(report.facts as Facts) };
  for (const l of lists) facts[l.probe] = l.list.take((report.facts as Facts)[l.probe], kept.get(l.probe) ?? 0);
  return { ...report, facts: facts as HealthReport["facts"] };
}

function droppedOf(lists: readonly ListFact[], kept: ReadonlyMap<string, number>): Record<string, number> {
  const dropped: Record<string, number> = {};
  for (const l of lists) {
    const n = l.items.length - (kept.get(l.probe) ?? 0);
    if (n > 0) dropped[l.probe] = n;
  }
  return dropped;
}

/** The report as it can be sent: within the schema and at most `maxBytes` as a `health` message. */
export function fitHealthReport(report: HealthReport, maxBytes = MAX_MESSAGE_BYTES): FittedReport {
  const whole = clipped(report);
  const wholeBytes = messageBytes(whole);
  const lists = listFacts(whole.facts as Facts);
  if (wholeBytes <= maxBytes && whole.findings.length <= MAX_FINDINGS && lists.every((l) => l.items.length <= l.list.max)) {
    return { report: whole, bytes: wholeBytes, originalBytes: 0, droppedFindings: 0, droppedFacts: {} };
  }
  const none = new Map(lists.map((l) => [l.probe, 0]));
  const base = messageBytes(withLists({ ...whole, findings: [] }, lists, none));
  // Critical first; within a severity, the order the probes gave.
  const byPriority = whole.findings.map((f, i) => ({ f, i })).sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity] || a.i - b.i);
  let budget = maxBytes - base - NOTICE_RESERVE;
  const keptFindings = prefixThatFits(byPriority.map((x) => x.f), budget, MAX_FINDINGS - 1);
  budget -= arrayBytes(byPriority.map((x) => x.f), keptFindings);
  // Then the list facts, in registry order, each from the start.
  const kept = new Map<string, number>();
  for (const l of lists) {
    const n = prefixThatFits(l.items, budget, l.list.max);
    kept.set(l.probe, n);
    budget -= arrayBytes(l.items, n);
  }

  const keptIndex = new Set(byPriority.slice(0, keptFindings).map((x) => x.i));
  const dropped = byPriority.slice(keptFindings).map((x) => x.f);
  const losses = lists.map((l) => ({ noun: l.list.noun, dropped: l.items.length - (kept.get(l.probe) ?? 0), total: l.items.length }));
  const findings = whole.findings.filter((_, i) => keptIndex.has(i));
  findings.push(notice(dropped, whole.findings.length, losses, wholeBytes, maxBytes));
  const fitted: HealthReport = { ...withLists(whole, lists, kept), findings };
  const bytes = messageBytes(fitted);
  if (bytes <= maxBytes) {
    return { report: fitted, bytes, originalBytes: wholeBytes, droppedFindings: dropped.length, droppedFacts: droppedOf(lists, kept) };
  }
  // The sums above are exact for JSON arrays; this only guards against a miscount: the notice alone, saying all was left out.
  const allLost = lists.map((l) => ({ noun: l.list.noun, dropped: l.items.length, total: l.items.length }));
  const bare: HealthReport = { ...withLists(whole, lists, none),
    findings: [notice(whole.findings, whole.findings.length, allLost, wholeBytes, maxBytes)] };
  return { report: bare, bytes: messageBytes(bare), originalBytes: wholeBytes, droppedFindings: whole.findings.length, droppedFacts: droppedOf(lists, none) };
}
