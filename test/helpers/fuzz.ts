/**
 * What the controller's fuzz suites share: their fast-check parameters (a
 * fixed seed and a bounded number of runs, both overridable from the
 * environment) and the oracle "documented": the HTTP statuses the controller
 * may answer with, and the NS_ERR codes of the registry (shared/error-codes.ts,
 * docs/errors.md).
 */
import { ERROR_CODES } from "../../shared/error-codes.js";

export interface FuzzParameters {
  seed: number;
  numRuns: number;
}

/**
 * NIGHTSHIFT_FUZZ_SEED and NIGHTSHIFT_FUZZ_RUNS override the defaults, e.g. to replay a
 * failure (fast-check prints the seed and path) or to run longer than CI does.
 */
export function fuzzParameters(defaults: FuzzParameters): FuzzParameters {
  const seed = process.env.NIGHTSHIFT_FUZZ_SEED;
  const runs = process.env.NIGHTSHIFT_FUZZ_RUNS;
  return {
    seed: seed === undefined ? defaults.seed : Number(seed),
    numRuns: runs === undefined ? defaults.numRuns : Number(runs),
  };
}

/**
 * Every status the controller answers HTTP requests with (docs/errors.md; README: Tests):
 * 200/201 success, 400 bad request/path/JSON/handshake, 401 token, 404 no such
 * endpoint or object, 405 method, 408 request timeout, 409 conflict, 413 body too
 * large, 429 too many pipelined requests or agent sessions, 431 headers too large,
 * 503 not ready or too many connections. 500 is a bug.
 */
export const DOCUMENTED_STATUSES: ReadonlySet<number> = new Set([200, 201, 400, 401, 404, 405, 408, 409, 413, 429, 431, 503, 504]);

/**
 * WebSocket close codes the controller closes an agent connection with (README: Protocol):
 * 1009 frame too large (over 4 MiB, or over 16 KiB before hello), 1007 text that is not UTF-8,
 * 1002 a broken WebSocket frame, 4403 hello for another host, 4401 token revoked.
 */
export const DOCUMENTED_CLOSE_CODES: ReadonlySet<number> = new Set([1009, 1007, 1002, 4403, 4401]);

const codes: ReadonlySet<string> = new Set(Object.keys(ERROR_CODES));

/** The registered NS_ERR codes (shared/error-codes.ts; docs/errors.md lists them). */
export function documentedErrorCodes(): ReadonlySet<string> {
  return codes;
}

/** Why an error answer's body is not a documented NS_ERR error, or null when it is. */
export function undocumentedError(body: string): string | null {
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    return `body is not JSON: ${body.slice(0, 200)}`;
  }
  if (typeof code !== "string") return `no error.code in ${body.slice(0, 200)}`;
  return documentedErrorCodes().has(code) ? null : `${code} is not a registered code (shared/error-codes.ts)`;
}
