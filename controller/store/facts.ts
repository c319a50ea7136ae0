/**
 * The probes' facts as the hosts last reported them (shared/facts/): one row
 * per host and probe, the fact as JSON, checked against its schema before it
 * got here. A report replaces all of a host's facts: a probe that reported
 * none this time (failed, timed out, turned off) has none stored, as no
 * gauge should show what it no longer looks at.
 */
import type { Db } from "./db.js";

export interface StoredFact {
  host: string;
  fact: unknown;
  reportedAt: number;
}

interface FactRow {
  host_id: number;
  host: string;
  fact: string;
  reported_at: number;
}

export class FactStore {
  private readonly deleteForHost;
  private readonly insert;
  private readonly selectOfProbe;
  /** Parsed facts by host and probe, so that a scrape parses a fact only when a report changed it. */
  private readonly parsed = new Map<string, { text: string; value: unknown }>();

  constructor(db: Db) {
    this.deleteForHost = db.prepare("DELETE FROM probe_facts WHERE host_id = ?");
    this.insert = db.prepare("INSERT INTO probe_facts (host_id, probe, fact, reported_at) VALUES (?, ?, ?, ?)");
    this.selectOfProbe = db.prepare(`SELECT f.host_id, h.name AS host, f.fact, f.reported_at FROM probe_facts f JOIN hosts h ON h.id = f.host_id
      WHERE f.probe = ? ORDER BY h.name`);
  }

  /** The host's facts are these now, each under its probe's name. Call inside a transaction. */
  replace(hostId: number, facts: Readonly<Record<string, unknown>>, now: number): void {
    this.deleteForHost.run(hostId);
    for (const [probe, fact] of Object.entries(facts)) {
      if (fact !== undefined) this.insert.run(hostId, probe, JSON.stringify(fact), now);
    }
  }

  /** Every host's fact of `probe`. */
  ofProbe(probe: string): StoredFact[] {
    const rows = this.selectOfProbe.all(probe) as FactRow[];
    return rows.map((r) => ({ host: r.host, fact: this.parse(`${r.host_id}\u0000${probe}`, r.fact), reportedAt: r.reported_at }));
  }

  private parse(key: string, text: string): unknown {
    const known = this.parsed.get(key);
    if (known?.text === text) return known.value;
    const value: unknown = JSON.parse(text);
    this.parsed.set(key, { text, value });
    return value;
  }
}
