/**
 * Matching a verify command's output. Both forms are exact on purpose: a
 * substring test for "web1" also passes on a guest that answers "web10", and a
 * check that can pass on the wrong VM proves nothing.
 */

export interface OutputExpectation {
  /** The whole output (trailing newlines ignored) must equal this. */
  output?: string | undefined;
  /** Some line must match this regular expression in full. */
  outputPattern?: string | undefined;
}

export interface MatchResult {
  pass: boolean;
  /** What was expected, for the evidence line. */
  expected: string;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `{vm}` in the expected text stands for the VM's name (regex-escaped in a pattern). */
export function matchOutput(stdout: string, expectation: OutputExpectation, vm: string): MatchResult | null {
  if (expectation.output !== undefined) {
    const expected = expectation.output.replaceAll("{vm}", vm).replace(/\n+$/, "");
    return { pass: stdout.replace(/\r?\n+$/, "") === expected, expected: `output = ${JSON.stringify(expected)}` };
  }
  if (expectation.outputPattern !== undefined) {
    const source = expectation.outputPattern.replaceAll("{vm}", escapeRegExp(vm));
    const line = new RegExp(`^(?:${source})$`);
    const pass = stdout.split(/\r?\n/).some((l) => line.test(l));
    return { pass, expected: `a line matching /^(?:${source})$/` };
  }
  return null;
}

/** Checks a pattern compiles, for the API to refuse a bad one before the run starts. */
export function patternError(pattern: string): string | null {
  try {
    new RegExp(`^(?:${pattern.replaceAll("{vm}", "x")})$`);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
