/** API tokens for the CLI and other clients, stored hashed. */
import type { Db } from "./db.js";
import { hashToken } from "../tokens.js";

export class ApiTokenStore {
  private readonly findStmt;

  constructor(private readonly db: Db) {
    this.findStmt = db.prepare("SELECT name FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL").pluck();
  }

  /** The token's name if it is valid. */
  verify(token: string): string | null {
    return (this.findStmt.get(hashToken(token)) as string | undefined) ?? null;
  }

  exists(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL").get(name) !== undefined;
  }

  add(name: string, token: string, now: number): void {
    this.db.prepare("INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)").run(name, hashToken(token), now);
  }
}
