/**
 * Bearer tokens: 32 random bytes, shown once, stored only as a SHA-256 hash.
 * A slow hash buys nothing here: the tokens are random, not passwords.
 */
import { createHash, randomBytes } from "node:crypto";

export function generateToken(kind: "host" | "api"): string {
  return `ns${kind === "host" ? "h" : "a"}_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The token from an `Authorization: Bearer ...` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match ? match[1]! : null;
}
