/** Agent sessions: one row per WebSocket connection of an agent, open or closed. */
import type { Db } from "./db.js";

export class SessionStore {
  private readonly openStmt;
  private readonly closeStmt;

  constructor(db: Db) {
    this.openStmt = db.prepare("INSERT INTO agent_sessions (id, host_id, remote_addr, connected_at) VALUES (?, ?, ?, ?)");
    this.closeStmt = db.prepare("UPDATE agent_sessions SET disconnected_at = ?, close_reason = ? WHERE id = ?");
    // Sessions left open by a controller that stopped (or crashed) are over.
    db.prepare("UPDATE agent_sessions SET disconnected_at = ?, close_reason = 'controller restarted' WHERE disconnected_at IS NULL")
      .run(Date.now());
  }

  open(id: string, hostId: number, remoteAddr: string | undefined, now: number): void {
    this.openStmt.run(id, hostId, remoteAddr ?? null, now);
  }

  close(id: string, reason: string, now: number): void {
    this.closeStmt.run(now, reason, id);
  }
}
