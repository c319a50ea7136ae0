/**
 * One error family for the whole project. Every error carries a stable `code`
 * (NS_ERR_...) that scripts and the documentation can rely on; the message is
 * written for the operator and says what to do where we know it.
 */
export class NightshiftError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
