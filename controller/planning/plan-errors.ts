/** Errors of the plan service; the API answers each with its code's status (shared/error-codes.ts). */
import { NightshiftError } from "../../shared/errors.js";
import type { HttpErrorCode } from "../../shared/error-codes.js";

export class PlanError extends NightshiftError {
  declare readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
  }
}
