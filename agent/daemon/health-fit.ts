/**
 * The last resort before a health report goes out: it must fit the protocol.
 * A frame above MAX_MESSAGE_BYTES is closed by the controller with 1009, the
 * agent reconnects and sends the same report again, for ever, and nothing is
 * stored; a report outside the schema's bounds is refused. The probes bound
 * their own output (caps per code); this bounds whatever gets past them:
 * strings are clipped to the schema, and when the whole is still too large,
 * findings (info first, then warning, then critical) and then mount facts
 * are dropped, and one finding says so, so the controller learns that it
 * does not see everything.
 */
import {
  MAX_FINDINGS, MAX_MOUNT_FACTS, MAX_PROBE_RUNS, MOUNT_FACT_LIMITS, PROBE_RUN_LIMITS, SEVERITIES, SYSTEMD_FACT_LIMITS,
  clipFinding, clipText, type Finding, type HealthReport, type MountFact, type Severity,
} from "../../shared/protocol/findings.js";
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
  droppedMounts: number;
}

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8");
const messageBytes = (report: HealthReport): number => Buffer.byteLength(encodeMessage({ type: "health", report }), "utf8");
const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

function clipMount(m: MountFact): MountFact {
  return { ...m, mountPoint: clipText(m.mountPoint, MOUNT_FACT_LIMITS.mountPoint), fstype: clipText(m.fstype, MOUNT_FACT_LIMITS.fstype),
    source: clipText(m.source, MOUNT_FACT_LIMITS.source) };
}

/** The report within the schema's string and count bounds, nothing dropped yet but what the schema cannot hold. */
function clipped(report: HealthReport): HealthReport {
  return {
    collectedAt: report.collectedAt,
    probes: report.probes.slice(0, MAX_PROBE_RUNS).map((p) => ({
      ...p, name: clipText(p.name, PROBE_RUN_LIMITS.name), ...(p.detail === undefined ? {} : { detail: clipText(p.detail, PROBE_RUN_LIMITS.detail) }),
    })),
    findings: report.findings.map((f) => clipFinding(f)),
    mounts: report.mounts.map(clipMount),
    systemd: report.systemd && {
      ...report.systemd,
      state: clipText(report.systemd.state, SYSTEMD_FACT_LIMITS.state),
      failedUnits: report.systemd.failedUnits.slice(0, SYSTEMD_FACT_LIMITS.failedUnits).map((u) => clipText(u, SYSTEMD_FACT_LIMITS.unit)),
    },
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

function notice(dropped: Finding[], findings: number, droppedMounts: number, mounts: number, originalBytes: number, maxBytes: number): Finding {
  const bySeverity = SEVERITIES.map((s) => [s, dropped.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  const byCode = new Map<string, number>();
  for (const f of dropped) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
  const codes = [...byCode].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([code, n]) => `${code} ×${n}`);
  const parts = [
    dropped.length ? `${dropped.length} of ${findings} findings (${bySeverity.map(([s, n]) => `${n} ${s}`).join(", ")}; ${codes.join(", ")})` : "",
    droppedMounts ? `${droppedMounts} of ${mounts} mount facts` : "",
  ].filter(Boolean);
  // The worst of what the controller does not see; dropping facts alone hides no finding.
  const severity = dropped.reduce<Severity>((worst, f) => (RANK[f.severity] < RANK[worst] ? f.severity : worst), dropped.length ? "info" : "warning");
  return clipFinding({
    code: REPORT_TRUNCATED_CODE, severity, subject: "health report", probe: REPORT_TRUNCATED_PROBE,
    message: `this host's health report was ${originalBytes} bytes, more than the ${maxBytes} the protocol carries (or than its ` +
      `${MAX_FINDINGS} findings / ${MAX_MOUNT_FACTS} mount facts): ${parts.join(" and ")} were left out. They are not stored, and ` +
      "open findings among them show as resolved until a report carries them again",
    remedy: "run `nightshift-agent check` on the host for every finding, and fix the most numerous codes first (named above): once the " +
      "report fits, it is sent whole again",
  });
}

/** The report as it can be sent: within the schema and at most `maxBytes` as a `health` message. */
export function fitHealthReport(report: HealthReport, maxBytes = MAX_MESSAGE_BYTES): FittedReport {
  const whole = clipped(report);
  const wholeBytes = messageBytes(whole);
  if (wholeBytes <= maxBytes && whole.findings.length <= MAX_FINDINGS && whole.mounts.length <= MAX_MOUNT_FACTS) {
    return { report: whole, bytes: wholeBytes, originalBytes: 0, droppedFindings: 0, droppedMounts: 0 };
  }
  const base = messageBytes({ ...whole, findings: [], mounts: [] });
  // Critical first; within a severity, the order the probes gave.
  const byPriority = whole.findings.map((f, i) => ({ f, i })).sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity] || a.i - b.i);
  let budget = maxBytes - base - NOTICE_RESERVE;
  const keptFindings = prefixThatFits(byPriority.map((x) => x.f), budget, MAX_FINDINGS - 1);
  budget -= byPriority.slice(0, keptFindings).reduce((sum, x, n) => sum + bytesOf(x.f) + (n > 0 ? 1 : 0), 0);
  const keptMounts = prefixThatFits(whole.mounts, budget - 1, MAX_MOUNT_FACTS);

  const kept = new Set(byPriority.slice(0, keptFindings).map((x) => x.i));
  const dropped = byPriority.slice(keptFindings).map((x) => x.f);
  const findings = whole.findings.filter((_, i) => kept.has(i));
  findings.push(notice(dropped, whole.findings.length, whole.mounts.length - keptMounts, whole.mounts.length, wholeBytes, maxBytes));
  const fitted: HealthReport = { ...whole, findings, mounts: whole.mounts.slice(0, keptMounts) };
  const bytes = messageBytes(fitted);
  if (bytes <= maxBytes) {
    return { report: fitted, bytes, originalBytes: wholeBytes, droppedFindings: dropped.length, droppedMounts: whole.mounts.length - keptMounts };
  }
  // The sums above are exact for JSON arrays; this only guards against a miscount: the notice alone, saying all was left out.
  const bare: HealthReport = { ...whole, mounts: [],
    findings: [notice(whole.findings, whole.findings.length, whole.mounts.length, whole.mounts.length, wholeBytes, maxBytes)] };
  return { report: bare, bytes: messageBytes(bare), originalBytes: wholeBytes, droppedFindings: whole.findings.length, droppedMounts: whole.mounts.length };
}
