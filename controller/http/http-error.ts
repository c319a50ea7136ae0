/** An error the client caused, with the HTTP status and NS_ERR code it is answered with. */
import { NightshiftError } from "../../shared/errors.js";

export class HttpError extends NightshiftError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message);
  }
}
