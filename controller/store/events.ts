/**
 * The append-only event history: libvirt events from agents and the
 * controller's own host events (connected, disconnected, missing, back,
 * enrolled, revoked, events-lost). Triggers in the schema refuse updates and
 * deletes; `event_id` is unique per host, so a redelivered event is stored
 * once, and no host can have another's events taken for redeliveries by
 * sending their ids first.
 *
 * Two times per event: `time` as the agent said (kept as said, whatever its
 * clock), `received_at` by the controller's clock. Listings order and filter
 * by the second, the one time the controller can trust.
 */
import type { Db } from "./db.js";
import type { EventRecord } from "../../shared/api.js";

export interface NewEvent {
  eventId: string;
  hostId: number;
  time: number;
  kind: string;
  domainName?: string | null;
  domainUuid?: string | null;
  event?: string | null;
  detail?: string | null;
  data?: Record<string, unknown> | null;
}


interface EventRow {
  seq: number;
  event_id: string;
  time: number;
  received_at: number;
  host: string;
  kind: string;
  domain_name: string | null;
  domain_uuid: string | null;
  event: string | null;
  detail: string | null;
  data: string | null;
}

export interface EventQuery {
  host?: string | undefined;
  vm?: string | undefined;
  since?: number | undefined;
  limit?: number | undefined;
}

export class EventStore {
  private readonly insertStmt;
  private readonly countStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(`INSERT OR IGNORE INTO events (event_id, host_id, time, received_at, kind, domain_name,
      domain_uuid, event, detail, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.countStmt = db.prepare("SELECT count(*) FROM events").pluck();
  }

  /** Stores one event; false when its host stored an event with this id before (a redelivery). */
  insert(e: NewEvent, receivedAt: number): boolean {
    const result = this.insertStmt.run(e.eventId, e.hostId, e.time, receivedAt, e.kind, e.domainName ?? null,
      e.domainUuid ?? null, e.event ?? null, e.detail ?? null, e.data ? JSON.stringify(e.data) : null);
    return result.changes === 1;
  }

  count(): number {
    return this.countStmt.get() as number;
  }

  query(q: EventQuery): EventRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.host) { where.push("h.name = ?"); params.push(q.host); }
    if (q.vm) { where.push("(e.domain_name = ? OR e.domain_uuid = ?)"); params.push(q.vm, q.vm); }
    // By receipt, not by the agent's `time`: a host whose clock says 2999 would otherwise
    // own every "newest" listing and every --since window, and one days behind would never be in one.
    if (q.since !== undefined) { where.push("e.received_at >= ?"); params.push(q.since); }
    const limit = Math.min(Math.max(q.limit ?? 1000, 1), 10_000);
    // The newest `limit` events received, returned oldest first so they read like a log.
    const sql = `SELECT * FROM (SELECT e.seq, e.event_id, e.time, e.received_at, h.name AS host, e.kind, e.domain_name,
      e.domain_uuid, e.event, e.detail, e.data FROM events e JOIN hosts h ON h.id = e.host_id
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY e.received_at DESC, e.seq DESC LIMIT ${limit})
      ORDER BY received_at, seq`;
    return (this.db.prepare(sql).all(...params) as EventRow[]).map((r) => ({
      seq: r.seq, id: r.event_id, time: new Date(r.time).toISOString(), receivedAt: new Date(r.received_at).toISOString(),
      host: r.host, kind: r.kind, vm: r.domain_name, uuid: r.domain_uuid, event: r.event, detail: r.detail,
      data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
    }));
  }
}
