/** Enrolled hosts: identity, token hash, liveness status and what their agent last told us. */
import type { Db } from "./db.js";
import { hashToken } from "../tokens.js";
import type { HostMaintenance } from "../../shared/protocol/messages.js";

export type HostStatus = "enrolled" | "up" | "missing" | "revoked";

export interface HostRow {
  id: number;
  name: string;
  status: HostStatus;
  enrolled_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  hostname: string | null;
  agent_version: string | null;
  libvirt_version: string | null;
  libvirt_uri: string | null;
  /** What the agent last said of its libvirt connection; null: it never said. */
  libvirt_state: "connected" | "unreachable" | null;
  libvirt_code: string | null;
  libvirt_detail: string | null;
  libvirt_since: number | null;
  /** JSON of HostEmergency while the host's console says it is in emergency or rescue mode (controller/console/). */
  emergency: string | null;
}

const COLUMNS = "id, name, status, enrolled_at, revoked_at, last_seen_at, hostname, agent_version, libvirt_version, libvirt_uri, "
  + "libvirt_state, libvirt_code, libvirt_detail, libvirt_since, emergency";

export class HostStore {
  private readonly byToken;
  private readonly byName;
  private readonly byId;
  private readonly all;
  private readonly setStatusStmt;
  private readonly touchStmt;
  private readonly helloStmt;
  private readonly libvirtStateStmt;

  constructor(private readonly db: Db) {
    this.byToken = db.prepare(`SELECT ${COLUMNS} FROM hosts WHERE token_hash = ? AND revoked_at IS NULL`);
    this.byName = db.prepare(`SELECT ${COLUMNS} FROM hosts WHERE name = ?`);
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM hosts WHERE id = ?`);
    this.all = db.prepare(`SELECT ${COLUMNS} FROM hosts ORDER BY name`);
    this.setStatusStmt = db.prepare("UPDATE hosts SET status = ? WHERE id = ?");
    this.touchStmt = db.prepare("UPDATE hosts SET last_seen_at = max(coalesce(last_seen_at, 0), ?) WHERE id = ?");
    // A hello's libvirtVersion "unknown" (libvirt not connected yet) keeps the version last known.
    this.helloStmt = db.prepare(`UPDATE hosts SET hostname = ?, agent_version = ?,
      libvirt_version = coalesce(nullif(?, 'unknown'), libvirt_version), libvirt_uri = ?,
      maintenance = ?, last_seen_at = ? WHERE id = ?`);
    this.libvirtStateStmt = db.prepare(`UPDATE hosts SET libvirt_state = ?, libvirt_code = ?, libvirt_detail = ?, libvirt_since = ?,
      libvirt_version = coalesce(?, libvirt_version) WHERE id = ?`);
  }

  findByToken(token: string): HostRow | undefined {
    return this.byToken.get(hashToken(token)) as HostRow | undefined;
  }

  findByName(name: string): HostRow | undefined {
    return this.byName.get(name) as HostRow | undefined;
  }

  findById(id: number): HostRow | undefined {
    return this.byId.get(id) as HostRow | undefined;
  }

  list(): HostRow[] {
    return this.all.all() as HostRow[];
  }

  /** Enrolls a new host, or re-enrolls a revoked one with a fresh token. Returns null if it is enrolled already. */
  enroll(name: string, token: string, now: number): HostRow | null {
    const existing = this.findByName(name);
    if (existing && existing.status !== "revoked") return null;
    if (existing) {
      this.db.prepare("UPDATE hosts SET token_hash = ?, revoked_at = NULL, status = 'enrolled', enrolled_at = ? WHERE id = ?")
        .run(hashToken(token), now, existing.id);
    } else {
      this.db.prepare("INSERT INTO hosts (name, token_hash, enrolled_at) VALUES (?, ?, ?)").run(name, hashToken(token), now);
    }
    return this.findByName(name)!;
  }

  revoke(id: number, now: number): void {
    this.db.prepare("UPDATE hosts SET token_hash = NULL, revoked_at = ?, status = 'revoked' WHERE id = ?").run(now, id);
  }

  /** The host's emergency state (JSON), or null: not in emergency mode as far as its console said. */
  setEmergency(id: number, emergency: string | null): void {
    this.db.prepare("UPDATE hosts SET emergency = ? WHERE id = ?").run(emergency, id);
  }

  /**
   * Each enrolled host's address as its agent's latest session came from (an IPv4-mapped IPv6
   * address as plain IPv4): netconsole lines are matched to hosts by their source address.
   */
  lastAddresses(): Map<string, number> {
    const rows = this.db.prepare(`SELECT s.host_id, s.remote_addr FROM agent_sessions s JOIN hosts h ON h.id = s.host_id
      WHERE h.revoked_at IS NULL AND s.remote_addr IS NOT NULL AND s.connected_at = (
        SELECT max(connected_at) FROM agent_sessions WHERE host_id = s.host_id)`).all() as { host_id: number; remote_addr: string }[];
    return new Map(rows.map((r) => [r.remote_addr.replace(/^::ffff:(?=\d+\.)/, ""), r.host_id]));
  }

  setStatus(id: number, status: HostStatus): void {
    this.setStatusStmt.run(status, id);
  }

  /** What the agent said in hello; its maintenance membership replaces the previous one (none: NULL). */
  recordHello(id: number, hello: { hostname: string; agentVersion: string; libvirtVersion: string; libvirtUri: string;
    maintenance?: HostMaintenance | undefined }, now: number): void {
    this.helloStmt.run(hello.hostname, hello.agentVersion, hello.libvirtVersion, hello.libvirtUri,
      hello.maintenance ? JSON.stringify(hello.maintenance) : null, now, id);
  }

  /** What the agent said of its libvirt connection (libvirt-state); a version it names replaces the stored one. */
  recordLibvirtState(id: number, state: { state: "connected" | "unreachable"; code: string | null; detail: string | null; since: number;
    libvirtVersion: string | null }): void {
    this.libvirtStateStmt.run(state.state, state.code, state.detail, state.since, state.libvirtVersion, id);
  }

  /** Every host that is not revoked whose agent's config puts it in a maintenance group (as of its last hello). */
  maintenanceRows(): { name: string; maintenance: HostMaintenance }[] {
    const rows = this.db.prepare("SELECT name, maintenance FROM hosts WHERE maintenance IS NOT NULL AND status != 'revoked' ORDER BY name")
      .all() as { name: string; maintenance: string }[];
    return rows.map((r) => ({ name: r.name, maintenance: JSON.parse(r.maintenance) as HostMaintenance }));
  }

  touch(id: number, at: number): void {
    this.touchStmt.run(at, id);
  }
}
