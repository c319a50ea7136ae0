/**
 * Host health as the agents' probes report it: findings with their
 * first-seen/last-seen/resolved times, probe runs, and the probes' facts
 * (kept by facts.ts).
 * Also the findings the controller derives itself (unexpected VM stops) and
 * the operator's records of expected stops that prevent them.
 */
import type { Db } from "./db.js";
import type { Finding, HealthReport } from "../../shared/protocol/findings.js";
import { FactStore } from "./facts.js";
import { FindingPages, type FindingPage, type FindingPageQuery } from "./finding-pages.js";

export interface ProbeRunRow { host: string; probe: string; status: string; duration_ms: number }

export class HealthStore {
  private readonly openByKey;
  private readonly insertFinding;
  private readonly touchFinding;
  private readonly openForSource;
  private readonly resolveStmt;
  private readonly insertRun;
  /** The probes' facts, replaced with each report. */
  readonly facts: FactStore;
  private readonly deleteOtherRuns;
  private readonly deleteResolvedBeforeStmt;
  private readonly hostsOverStmt;
  private readonly trimResolvedStmt;
  private readonly pages;

  constructor(private readonly db: Db) {
    this.facts = new FactStore(db);
    this.openByKey = db.prepare("SELECT id FROM findings WHERE host_id = ? AND code = ? AND subject = ? AND resolved_at IS NULL");
    this.insertFinding = db.prepare(`INSERT INTO findings (host_id, code, subject, severity, message, remedy, probe, source,
      first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.touchFinding = db.prepare("UPDATE findings SET severity = ?, message = ?, remedy = ?, probe = ?, last_seen_at = ? WHERE id = ?");
    this.openForSource = db.prepare("SELECT id, code, subject, probe FROM findings WHERE host_id = ? AND source = ? AND resolved_at IS NULL");
    this.resolveStmt = db.prepare("UPDATE findings SET resolved_at = ? WHERE id = ?");
    this.insertRun = db.prepare(`INSERT OR REPLACE INTO probe_runs (host_id, probe, status, duration_ms, detail, reported_at)
      VALUES (?, ?, ?, ?, ?, ?)`);
    this.deleteOtherRuns = db.prepare("DELETE FROM probe_runs WHERE host_id = ? AND probe NOT IN (SELECT value FROM json_each(?))");
    this.deleteResolvedBeforeStmt = db.prepare(`DELETE FROM findings WHERE id IN (SELECT id FROM findings
      WHERE resolved_at IS NOT NULL AND resolved_at < ? ORDER BY resolved_at LIMIT ?)`);
    this.hostsOverStmt = db.prepare(`SELECT host_id FROM findings WHERE resolved_at IS NOT NULL GROUP BY host_id HAVING count(*) > ?`).pluck();
    this.trimResolvedStmt = db.prepare(`DELETE FROM findings WHERE id IN (SELECT id FROM findings
      WHERE host_id = ? AND resolved_at IS NOT NULL ORDER BY resolved_at DESC, id DESC LIMIT ? OFFSET ?)`);
    this.pages = new FindingPages(db);
  }

  /** Opens or refreshes one finding. Returns true when it is new (not open before). */
  upsertFinding(hostId: number, f: Finding, source: "agent" | "controller", now: number): boolean {
    const open = this.openByKey.get(hostId, f.code, f.subject) as { id: number } | undefined;
    if (open) {
      this.touchFinding.run(f.severity, f.message, f.remedy, f.probe, now, open.id);
      return false;
    }
    this.insertFinding.run(hostId, f.code, f.subject, f.severity, f.message, f.remedy, f.probe, source, now, now);
    return true;
  }

  /** Subjects of the host's open findings with this code (opened before `before`, epoch ms, when given). */
  openSubjects(hostId: number, code: string, before = Number.MAX_SAFE_INTEGER): string[] {
    return this.db.prepare("SELECT subject FROM findings WHERE host_id = ? AND code = ? AND resolved_at IS NULL AND first_seen_at < ?")
      .pluck().all(hostId, code, before) as string[];
  }

  resolveFinding(hostId: number, code: string, subject: string, now: number): boolean {
    const open = this.openByKey.get(hostId, code, subject) as { id: number } | undefined;
    if (!open) return false;
    this.resolveStmt.run(now, open.id);
    return true;
  }

  /**
   * Applies a health report: its findings open or stay open, the agent's
   * findings it no longer has are resolved, and the facts and probe runs
   * are replaced. The probe runs are the report's, plus the stored ones named
   * in `keepProbes` (runs the controller refused, which keep their last
   * state): a probe the host no longer reports leaves the table and /metrics,
   * so a host has at most MAX_PROBE_RUNS of them. Call inside a transaction.
   */
  applyReport(hostId: number, report: HealthReport, now: number, keepProbes: ReadonlySet<string> = new Set()): { opened: number; resolved: number } {
    let opened = 0;
    const present = new Set<string>();
    for (const f of report.findings) {
      present.add(`${f.code}\u0000${f.subject}`);
      if (this.upsertFinding(hostId, f, "agent", now)) opened++;
    }
    // A probe that failed or timed out did not look: keep its open findings rather than call them resolved.
    const didNotLook = new Set(report.probes.filter((p) => p.status === "failed" || p.status === "timeout").map((p) => p.name));
    let resolved = 0;
    const stillOpen = this.openForSource.all(hostId, "agent") as { id: number; code: string; subject: string; probe: string }[];
    for (const row of stillOpen) {
      if (present.has(`${row.code}\u0000${row.subject}`)) continue;
      if (didNotLook.has(row.probe)) continue;
      this.resolveStmt.run(now, row.id);
      resolved++;
    }
    this.facts.replace(hostId, report.facts, now);
    this.deleteOtherRuns.run(hostId, JSON.stringify([...report.probes.map((p) => p.name), ...keepProbes]));
    for (const p of report.probes) this.insertRun.run(hostId, p.name, p.status, p.durationMs, p.detail ?? null, now);
    return { opened, resolved };
  }

  /** One page of GET /v1/findings (finding-pages.ts). */
  findingsPage(q: FindingPageQuery): FindingPage {
    return this.pages.page(q);
  }

  /** Deletes up to `max` findings resolved before `cutoff` (epoch ms), oldest first; how many it deleted. */
  deleteResolvedBefore(cutoff: number, max: number): number {
    return this.deleteResolvedBeforeStmt.run(cutoff, max).changes;
  }

  /** Hosts holding more than `keep` resolved findings. */
  hostsWithResolvedOver(keep: number): number[] {
    return this.hostsOverStmt.all(keep) as number[];
  }

  /** Deletes up to `max` of the host's resolved findings beyond its `keep` most recently resolved; how many it deleted. */
  trimResolved(hostId: number, keep: number, max: number): number {
    return this.trimResolvedStmt.run(hostId, max, keep).changes;
  }

  /** Open findings, for metrics. */
  openFindings(): { host: string; code: string; severity: string; subject: string }[] {
    return this.db.prepare(`SELECT h.name AS host, f.code, f.severity, f.subject FROM findings f JOIN hosts h ON h.id = f.host_id
      WHERE f.resolved_at IS NULL`).all() as { host: string; code: string; severity: string; subject: string }[];
  }

  probeRuns(): ProbeRunRow[] {
    return this.db.prepare("SELECT h.name AS host, p.probe, p.status, p.duration_ms FROM probe_runs p JOIN hosts h ON h.id = p.host_id")
      .all() as ProbeRunRow[];
  }

  recordExpectedStop(hostId: number, vm: string, until: number, reason: string, recordedBy: string, now: number): void {
    this.db.prepare("INSERT INTO expected_stops (host_id, vm, until, reason, recorded_by, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(hostId, vm, until, reason, recordedBy, now);
  }

  /** The operator's (or a maintenance run's) record covering a stop of `vm` at `at`, if any. */
  expectedStop(hostId: number, vm: string, at: number): { reason: string; recorded_by: string } | undefined {
    return this.db.prepare(`SELECT reason, recorded_by FROM expected_stops WHERE host_id = ? AND vm = ? AND created_at <= ? AND until >= ?
      ORDER BY created_at DESC LIMIT 1`).get(hostId, vm, at, at) as { reason: string; recorded_by: string } | undefined;
  }
}
