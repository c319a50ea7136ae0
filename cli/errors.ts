/** CLI-side errors that are the operator's to fix before anything is sent (exit status 2, like commander's usage errors). */
import { NightshiftError } from "../shared/errors.js";

export class UsageError extends NightshiftError {}
