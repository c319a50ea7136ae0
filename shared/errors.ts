/**
 * One error family for the whole project. Every error carries a stable `code`
 * (NS_ERR_...) that scripts and the documentation can rely on, one of the
 * registered codes (shared/error-codes.ts, docs/errors.md); the message is
 * written for the operator and says what to do where we know it.
 */
import type { ErrorCode } from "./error-codes.js";

export type { ErrorCode } from "./error-codes.js";

export class NightshiftError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The error's own code when it is a NightshiftError, else `fallback` (for log lines). */
export function errorCodeOf(err: unknown, fallback: ErrorCode): ErrorCode {
  return err instanceof NightshiftError ? err.code : fallback;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
