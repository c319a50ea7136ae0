/** Errors of the plan service with the HTTP status the API answers them with. */
import { NightshiftError } from "../../shared/errors.js";

export class PlanError extends NightshiftError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message);
  }
}
