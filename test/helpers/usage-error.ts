/** Checking the UsageErrors that the CLI's spec readers throw: the error itself and its problem lines. */
import { expect } from "vitest";
import { UsageError } from "../../cli/errors.js";

/** The UsageError `fn` throws; the test fails when it throws anything else or nothing. */
export function usageErrorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error("expected a UsageError");
}

/** The problem lines of a spec error's message (its indented lines), trimmed. */
export const problemLines = (err: Error) => err.message.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
