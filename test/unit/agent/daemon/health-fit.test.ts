/**
 * fitHealthReport: whatever the probes produced, the health message the agent
 * sends is within the protocol's frame limit and the schema, and says what it
 * left out.
 */
import { describe, expect, it } from "vitest";
import { REPORT_TRUNCATED_CODE, fitHealthReport } from "../../../../agent/daemon/health-fit.js";
import { encodeMessage, parseAgentMessage } from "../../../../shared/protocol/codec.js";
import { HealthReportSchema, type Finding, type HealthReport, type MountFact, type Severity } from "../../../../shared/protocol/findings.js";
import { MAX_MESSAGE_BYTES } from "../../../../shared/protocol/messages.js";

function finding(i: number, severity: Severity, size = 1000): Finding {
  return { code: `NS_TEST_${severity.toUpperCase()}`, severity, subject: `/srv/${i}`, message: "m".repeat(size), remedy: "r".repeat(size), probe: "fstab" };
}

function report(findings: Finding[], mounts: MountFact[] = []): HealthReport {
  return { collectedAt: "2025-03-01T00:00:00.000Z", probes: [{ name: "fstab", status: "ok", durationMs: 1 }], findings, facts: { mounts } };
}

const bytes = (r: HealthReport) => Buffer.byteLength(encodeMessage({ type: "health", report: r }));

/** As the controller takes it: within the frame limit, and a valid health message. */
function expectAccepted(r: HealthReport): void {
  expect(bytes(r)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  const parsed = parseAgentMessage(encodeMessage({ type: "health", report: r }));
  expect(parsed.ok ? "ok" : parsed.detail).toBe("ok");
}

describe("fitHealthReport", () => {
  it("passes a report that fits as it is, and says so", () => {
    const r = report([finding(1, "critical"), finding(2, "info")]);
    const fitted = fitHealthReport(r);
    expect(fitted).toEqual({ report: r, bytes: bytes(r), originalBytes: 0, droppedFindings: 0, droppedFacts: {} });
  });

  it("clips strings to the schema's bounds, so one long line does not get the whole report refused", () => {
    const long = { ...finding(1, "warning"), subject: "s".repeat(600), remedy: `#${"x".repeat(5000)}` };
    expect(HealthReportSchema.safeParse(report([long])).success).toBe(false);
    const fitted = fitHealthReport(report([long]));
    expectAccepted(fitted.report);
    expect(fitted.report.findings[0]!.subject).toBe(`${"s".repeat(511)}…`);
    expect(fitted.report.findings[0]!.remedy).toHaveLength(2048);
    expect(fitted.droppedFindings).toBe(0);
  });

  it("drops info, then warning findings beyond the frame limit, keeps every critical one, and adds one finding saying what was dropped", () => {
    const findings = [
      ...Array.from({ length: 1500 }, (_, i) => finding(i, "info")),
      ...Array.from({ length: 1500 }, (_, i) => finding(i, "critical")),
      ...Array.from({ length: 1500 }, (_, i) => finding(i, "warning")),
    ];
    const original = report(findings);
    expect(bytes(original)).toBeGreaterThan(MAX_MESSAGE_BYTES);
    const fitted = fitHealthReport(original);
    expectAccepted(fitted.report);
    expect(fitted.bytes).toBe(bytes(fitted.report));
    expect(fitted.originalBytes).toBe(bytes(original));
    const kept = fitted.report.findings.filter((f) => f.code !== REPORT_TRUNCATED_CODE);
    expect(kept.filter((f) => f.severity === "critical")).toHaveLength(1500);
    expect(kept.filter((f) => f.severity === "info")).toHaveLength(0);
    const warnings = kept.filter((f) => f.severity === "warning").length;
    expect(warnings).toBeGreaterThan(0);
    expect(warnings).toBeLessThan(1500);
    // Nearly full: the budget is used, not wasted (each finding is about 2.1 kB).
    expect(fitted.bytes).toBeGreaterThan(MAX_MESSAGE_BYTES - 16 * 1024);
    // Kept in the order the probes gave them.
    expect(kept[0]!.severity).toBe("critical");
    expect(fitted.droppedFindings).toBe(1500 + 1500 - warnings);
    const notice = fitted.report.findings.at(-1)!;
    expect(notice).toMatchObject({ code: REPORT_TRUNCATED_CODE, severity: "warning", subject: "health report", probe: "health-report" });
    expect(notice.message).toContain(`${fitted.droppedFindings} of 4500 findings (${1500 - warnings} warning, 1500 info; NS_TEST_INFO ×1500, NS_TEST_WARNING ×${1500 - warnings})`);
    expect(notice.message).toContain(`was ${bytes(original)} bytes, more than the ${MAX_MESSAGE_BYTES}`);
  });

  it("holds the schema's counts (10,000 findings, 10,000 mount facts) even when small enough in bytes", () => {
    const findings = Array.from({ length: 12_000 }, (_, i) => finding(i, "info", 10));
    const mounts = Array.from({ length: 12_000 }, (_, i): MountFact => ({ mountPoint: `/m/${i}`, fstype: "ext4", source: `/dev/x${i}`, state: "missing", inFstab: true, network: false }));
    const fitted = fitHealthReport(report(findings, mounts));
    expectAccepted(fitted.report);
    expect(fitted.report.findings).toHaveLength(10_000);
    expect(fitted.report.facts.mounts).toHaveLength(10_000);
    expect([fitted.droppedFindings, fitted.droppedFacts.mounts]).toEqual([2001, 2000]);
    expect(fitted.report.findings.at(-1)!.message).toContain("2001 of 12000 findings (2001 info; NS_TEST_INFO ×2001) and 2000 of 12000 mount facts");
  });

  it("drops mount facts after findings; facts alone dropped make the notice a warning", () => {
    const mounts = Array.from({ length: 9_000 }, (_, i): MountFact => ({ mountPoint: `/m/${i}/${"p".repeat(500)}`, fstype: "nfs", source: "s".repeat(400), state: "up", inFstab: true, network: true }));
    const fitted = fitHealthReport(report([finding(1, "info")], mounts));
    expectAccepted(fitted.report);
    expect(fitted.droppedFindings).toBe(0);
    expect(fitted.droppedFacts.mounts).toBeGreaterThan(0);
    expect(fitted.report.findings.map((f) => [f.code, f.severity])).toEqual([["NS_TEST_INFO", "info"], [REPORT_TRUNCATED_CODE, "warning"]]);
  });
});
