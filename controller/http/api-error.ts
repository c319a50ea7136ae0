/**
 * How the controller answers an error over HTTP: any NightshiftError whose code
 * has an HTTP status in the registry (shared/error-codes.ts) is answered with
 * that status and the body {"error": {"code", "message"}}; anything else is a
 * bug, answered 500 NS_ERR_INTERNAL. Routes throw domain errors (PlanError,
 * RunRequestError, ...) or ApiError, never a status.
 */
import { NightshiftError } from "../../shared/errors.js";
import { httpStatus, isHttpErrorCode, type HttpErrorCode } from "../../shared/error-codes.js";

/** An error of the HTTP layer itself or of a route's own checks (a query parameter, a body, a lookup). */
export class ApiError extends NightshiftError {
  declare readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
  }
}

export interface ErrorAnswer {
  status: number;
  code: HttpErrorCode;
  message: string;
}

/** The answer for `err`, or null when it has none (a bug: the caller answers 500 and logs it). */
export function errorAnswer(err: unknown): ErrorAnswer | null {
  if (!(err instanceof NightshiftError) || !isHttpErrorCode(err.code)) return null;
  const status = httpStatus(err.code);
  // 500 is a bug's: it goes that way, logged. (A 504 is an agent that did not answer in time.)
  return status !== 500 ? { status, code: err.code, message: err.message } : null;
}

/** The answer to everything errorAnswer has none for: a bug, logged by the caller. */
export const INTERNAL_ERROR: ErrorAnswer = {
  status: httpStatus("NS_ERR_INTERNAL"), code: "NS_ERR_INTERNAL", message: "internal error; see the controller's log",
};
