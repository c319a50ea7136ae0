/**
 * GET /v1/findings, a page at a time: open findings first (critical first,
 * then by host, code, subject), then with `includeResolved` the history, most
 * recently resolved first. Pages are cut by keyset, not offset: the cursor
 * holds the sort key of a page's last row, so a finding opened, resolved or
 * deleted by retention meanwhile never makes a page repeat or skip another.
 */
import { z } from "zod";
import type { Db } from "./db.js";
import { FINDINGS_PAGE_DEFAULT, FINDINGS_PAGE_MAX, type FindingRecord } from "../../shared/api.js";
import type { Severity } from "../../shared/protocol/findings.js";

export const DEFAULT_FINDINGS_LIMIT = FINDINGS_PAGE_DEFAULT;
export const MAX_FINDINGS_LIMIT = FINDINGS_PAGE_MAX;

/** Where a page starts: after this open finding, or after this resolved one. */
export type FindingCursor =
  | { open: [rank: number, host: string, code: string, subject: string, firstSeenAt: number, id: number] }
  | { resolved: [resolvedAt: number, id: number] };

const CursorSchema = z.union([
  z.strictObject({ open: z.tuple([z.number().int(), z.string(), z.string(), z.string(), z.number().int(), z.number().int()]) }),
  z.strictObject({ resolved: z.tuple([z.number().int(), z.number().int()]) }),
]);

export function encodeCursor(cursor: FindingCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** The cursor in `text`, or null when it is none this controller made. */
export function decodeCursor(text: string): FindingCursor | null {
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(text)) return null;
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(text, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface FindingPageQuery {
  host?: string | undefined;
  severity?: Severity | undefined;
  includeResolved?: boolean | undefined;
  /** Default DEFAULT_FINDINGS_LIMIT, at most MAX_FINDINGS_LIMIT. */
  limit?: number | undefined;
  after?: FindingCursor | undefined;
}

export interface FindingPage {
  findings: FindingRecord[];
  /** Findings matching the query on every page. */
  total: number;
  /** Where the next page starts; null on the last page. */
  next: FindingCursor | null;
}

interface FindingRow {
  id: number;
  host: string;
  code: string;
  severity: Severity;
  subject: string;
  message: string;
  remedy: string;
  probe: string;
  source: "agent" | "controller";
  first_seen_at: number;
  last_seen_at: number;
  resolved_at: number | null;
  rank: number;
}

const RANK = "CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END";
const OPEN_KEY = `(${RANK}, h.name, f.code, f.subject, f.first_seen_at, f.id)`;
const SELECT = `SELECT f.*, h.name AS host, ${RANK} AS rank FROM findings f JOIN hosts h ON h.id = f.host_id`;
const iso = (ms: number) => new Date(ms).toISOString();

function record(r: FindingRow): FindingRecord {
  return {
    host: r.host, code: r.code, severity: r.severity, subject: r.subject, message: r.message, remedy: r.remedy,
    probe: r.probe, source: r.source, firstSeenAt: iso(r.first_seen_at), lastSeenAt: iso(r.last_seen_at),
    resolvedAt: r.resolved_at === null ? null : iso(r.resolved_at),
  };
}

export class FindingPages {
  constructor(private readonly db: Db) {}

  page(q: FindingPageQuery): FindingPage {
    const limit = Math.min(Math.max(q.limit ?? DEFAULT_FINDINGS_LIMIT, 1), MAX_FINDINGS_LIMIT);
    const filters: string[] = [];
    const params: unknown[] = [];
    if (q.host) { filters.push("h.name = ?"); params.push(q.host); }
    if (q.severity) { filters.push("f.severity = ?"); params.push(q.severity); }
    // One more than asked for tells whether a next page exists.
    const rows: FindingRow[] = [];
    if (!q.after || "open" in q.after) {
      const where = [...filters, "f.resolved_at IS NULL", ...(q.after ? [`${OPEN_KEY} > (?, ?, ?, ?, ?, ?)`] : [])];
      rows.push(...this.db.prepare(`${SELECT} WHERE ${where.join(" AND ")} ORDER BY ${RANK}, h.name, f.code, f.subject, f.first_seen_at, f.id LIMIT ?`)
        .all(...params, ...(q.after && "open" in q.after ? q.after.open : []), limit + 1) as FindingRow[]);
    }
    if (q.includeResolved && rows.length <= limit) {
      const from = q.after && "resolved" in q.after ? q.after.resolved : null;
      const where = [...filters, "f.resolved_at IS NOT NULL", ...(from ? ["(f.resolved_at, f.id) < (?, ?)"] : [])];
      rows.push(...this.db.prepare(`${SELECT} WHERE ${where.join(" AND ")} ORDER BY f.resolved_at DESC, f.id DESC LIMIT ?`)
        .all(...params, ...(from ?? []), limit + 1 - rows.length) as FindingRow[]);
    }
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    const next: FindingCursor | null = rows.length <= limit || !last ? null
      : last.resolved_at === null ? { open: [last.rank, last.host, last.code, last.subject, last.first_seen_at, last.id] }
        : { resolved: [last.resolved_at, last.id] };
    const countWhere = [...filters, ...(q.includeResolved ? [] : ["f.resolved_at IS NULL"])];
    const total = this.db.prepare(`SELECT count(*) FROM findings f JOIN hosts h ON h.id = f.host_id
      ${countWhere.length ? `WHERE ${countWhere.join(" AND ")}` : ""}`).pluck().get(...params) as number;
    return { findings: shown.map(record), total, next };
  }
}
