/**
 * Property test of the controller's HTTP side, as raw bytes to a real
 * controller process (temp data dir): random methods, paths (odd characters,
 * percent-encodings good and broken, `//`, `..`, very long), query strings,
 * headers (with and without a valid token, sometimes an Upgrade) and bodies
 * (random JSON, not JSON, over the limit, deeply nested). For every request:
 * it is answered, with a documented status, never 500; an error is a JSON
 * body with a registered NS_ERR code (docs/errors.md); nothing but /healthz, /readyz and
 * /metrics answers 2xx without the token. After all of them the process still
 * serves and its RSS grew by a bounded amount.
 *
 * Fixed seed, bounded runs: NIGHTSHIFT_FUZZ_SEED and NIGHTSHIFT_FUZZ_RUNS change them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { startController, type TestController } from "../../helpers/controller.js";
import { rawRequest } from "../../helpers/raw-http.js";
import { DOCUMENTED_STATUSES, fuzzParameters, undocumentedError } from "../../helpers/fuzz.js";
import { hostileJson } from "../../helpers/hostile-json.js";
import { memoryStatus } from "../../../bench/controller-load-proc.js";

const PARAMETERS = fuzzParameters({ seed: 0x5eed_0001, numRuns: 1_500 });
const PUBLIC = new Set(["/healthz", "/readyz", "/metrics"]);

let controller: TestController;

beforeAll(async () => {
  controller = await startController({ env: { NIGHTSHIFT_LOG_LEVEL: "fatal" } });
});

afterAll(async () => {
  await controller?.stop();
});

const WORDS = ["v1", "hosts", "vms", "events", "findings", "status", "runs", "snapshots", "plans", "current", "check", "pause", "resume",
  "cancel", "ics", "windows", "machines", "revoke", "expect-stop", "abort", "evidence", "agent", "metrics", "healthz", "readyz",
  "hv1", "web1", "1", "0", "-1", "..", ".", ""];

const percent = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`),
  fc.constantFrom("%E0%A4%A", "%", "%z", "%zz", "%C3", "%ED%A0%80", "%00", "%2F", "%2e%2e", "%F0%9F%92%A9", "%25"),
);
/** Characters a request line may carry, and some it may not (those are the HTTP parser's to refuse: 400 NS_ERR_BAD_HTTP). */
const oddChar = fc.constantFrom(..."!$&'()*+,;=:@-._~[]{}|\\^`\"<> ", "é", "\u2028", "\t", "\u0000");
const segment = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 2, arbitrary: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...WORDS) }, { weight: 3, arbitrary: percent },
    { weight: 1, arbitrary: oddChar }), { maxLength: 6 }).map((parts) => parts.join("")) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => "a".repeat(n)) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/) },
);
/** The controller's routes (controller/http/*-api.ts); `:x` is filled with a random segment. */
const ROUTES: [string, string][] = [
  ["GET", "/healthz"], ["GET", "/readyz"], ["GET", "/metrics"], ["GET", "/v1/hosts"], ["POST", "/v1/hosts"], ["POST", "/v1/hosts/:name/revoke"],
  ["GET", "/v1/vms"], ["GET", "/v1/events"], ["GET", "/v1/findings"], ["POST", "/v1/vms/:name/expect-stop"], ["GET", "/v1/status"],
  ["PUT", "/v1/windows/:group"], ["GET", "/v1/windows"], ["DELETE", "/v1/windows/:group"], ["PUT", "/v1/machines/:name"], ["GET", "/v1/machines"],
  ["DELETE", "/v1/machines/:name"], ["POST", "/v1/plans"], ["GET", "/v1/plans/current"], ["GET", "/v1/plans/current/check"],
  ["POST", "/v1/plans/current/pause"], ["POST", "/v1/plans/current/resume"], ["POST", "/v1/plans/current/cancel"], ["GET", "/v1/plans/current/ics"],
  ["GET", "/v1/plans/:id"], ["POST", "/v1/runs"], ["GET", "/v1/runs"], ["GET", "/v1/runs/:id"], ["GET", "/v1/runs/:id/evidence"],
  ["POST", "/v1/runs/:id/abort"], ["GET", "/v1/snapshots"],
];
const route = fc.tuple(fc.constantFrom(...ROUTES), segment).map(([[m, template], fill]) => ({ method: m, path: template.replace(/:[a-z]+/, fill || "x") }));

const requestPath = fc.oneof(
  { weight: 6, arbitrary: route.map((r) => r.path) },
  { weight: 4, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((segments) => "/" + segments.join("/")) },
  { weight: 1, arbitrary: fc.constantFrom("//", "///", "*", "http://[::1", "http://x/v1/hosts", "/v1/hosts/", "/v1//hosts", "/v1/hosts/../hosts", "") },
);
const queryValue = fc.oneof(fc.constantFrom("1h", "15m", "foo 1", "2026-02-30", "2026-11-23T00:00:00Z", "-1", "0", "10001", "1e3", "9".repeat(400),
  "true", "critical", "%E0%A4%A", ""), fc.string({ maxLength: 20 }).map(encodeURIComponent));
const query = fc.option(fc.array(fc.tuple(fc.constantFrom("since", "limit", "host", "vm", "severity", "resolved", "x"), queryValue), { maxLength: 4 })
  .map((pairs) => "?" + pairs.map(([k, v]) => `${k}=${v}`).join("&")), { nil: "" });
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/) });

type Auth = "admin" | "none" | "garbage" | "basic";
const auth = fc.constantFrom<Auth>("admin", "admin", "none", "garbage", "basic");

/** Bodies as descriptions, made into bytes only when sent, so a counterexample prints short. */
type Body = { kind: "none" } | { kind: "text"; text: string } | { kind: "huge"; bytes: number } | { kind: "nested"; shape: "array" | "object"; bytes: number };
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Body>({ kind: "none" }) },
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v): Body => ({ kind: "text", text: JSON.stringify(v) })) },
  { weight: 2, arbitrary: fc.record({ name: fc.string({ maxLength: 300 }), host: fc.string({ maxLength: 30 }), reason: fc.string({ maxLength: 30 }),
    forSeconds: fc.oneof(fc.double(), fc.integer()), vms: fc.array(fc.string(), { maxLength: 3 }) }, { requiredKeys: [] })
    .map((v): Body => ({ kind: "text", text: JSON.stringify(v) })) },
  // Plausible ones, so some requests succeed (201) or conflict (409), and handlers past validation run.
  { weight: 2, arbitrary: fc.oneof(
    fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/) }),
    fc.record({ host: fc.constantFrom("hv1", "a", "b"), reason: fc.string({ minLength: 1, maxLength: 20 }), forSeconds: fc.integer({ min: -5, max: 10 ** 8 }) }),
  ).map((v): Body => ({ kind: "text", text: JSON.stringify(v) })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text): Body => ({ kind: "text", text })) },
  { weight: 1, arbitrary: fc.integer({ min: 60 * 1024, max: 80 * 1024 }).map((bytes): Body => ({ kind: "huge", bytes })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("array" as const, "object" as const), fc.integer({ min: 10, max: 60 * 1024 }))
    .map(([shape, bytes]): Body => ({ kind: "nested", shape, bytes })) },
);

function bodyText(b: Body): string {
  switch (b.kind) {
    case "none": return "";
    case "text": return b.text;
    case "huge": return "x".repeat(b.bytes);
    case "nested": return hostileJson(b.shape, b.bytes);
  }
}
const extraHeaders = fc.array(fc.oneof(
  fc.constantFrom("Connection: Upgrade\r\nUpgrade: websocket", "Content-Type: text/plain", "Content-Type: application/json; charset=latin1",
    "Expect: 100-continue", "Accept-Encoding: gzip", "Transfer-Encoding: identity", "X-Forwarded-For: 10.0.0.1", "Host: ", "Host: [::1"),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), fc.string({ unit: "grapheme-ascii", maxLength: 40 })).map(([k, v]) => `${k}: ${v}`),
), { maxLength: 3 });

interface FuzzRequest {
  method: string;
  target: string;
  pathname: string;
  auth: Auth;
  headers: string[];
  body: Body;
}

const target = fc.oneof(
  { weight: 1, arbitrary: fc.record({ method, path: requestPath }) },
  // Mostly the route's own method, so handlers (not only the router) see the bodies and queries.
  { weight: 2, arbitrary: route },
);
const request = fc.record({ target, query, auth, headers: extraHeaders, body }).map((r): FuzzRequest => ({
  method: r.target.method, target: (r.target.path || "/") + r.query, pathname: r.target.path, auth: r.auth, headers: r.headers, body: r.body,
}));

function bytes(r: FuzzRequest): Buffer {
  const authorization = { admin: `Authorization: Bearer ${controller.adminToken}`, none: null, garbage: "Authorization: Bearer nsa_x",
    basic: "Authorization: Basic YTpi" }[r.auth];
  const body = Buffer.from(bodyText(r.body), "utf8");
  const lines = [`${r.method} ${r.target} HTTP/1.1`, "Host: localhost", ...(authorization ? [authorization] : []), ...r.headers,
    ...(body.length ? [`Content-Length: ${body.length}`] : []), "Connection: close"];
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "utf8"), body]);
}

describe("HTTP fuzz", () => {
  it(`answers every request with a documented status and NS_ERR body (seed ${PARAMETERS.seed}, ${PARAMETERS.numRuns} runs)`, async () => {
    const before = memoryStatus(controller.process.pid!);
    const statuses = new Map<number, number>();
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const answer = await rawRequest(controller.url, bytes(r), { timeoutMs: 5_000 });
      const what = `${r.method} ${r.target.slice(0, 300)} (auth ${r.auth}, body ${r.body.kind}): ${answer.raw.slice(0, 500)}`;
      expect(controller.process.exitCode, `the controller exited after ${what}\n${controller.logs()}`).toBeNull();
      expect(answer.status, `no answer to ${what}`).not.toBeNull();
      const status = answer.status!;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(DOCUMENTED_STATUSES.has(status), `undocumented status for ${what}`).toBe(true);
      if (status >= 400) {
        expect(answer.headers["content-type"], what).toBe("application/json");
        if (r.method !== "HEAD") expect(undocumentedError(answer.body), what).toBeNull();
      }
      if (status < 300 && r.auth !== "admin") {
        expect(PUBLIC.has(new URL(`http://x${r.pathname.startsWith("/") ? r.pathname : "/"}`).pathname), `2xx without the token: ${what}`).toBe(true);
      }
    }), PARAMETERS);

    // Still serving, and what it took was given back (loose: a GC may not have run yet).
    expect((await fetch(`${controller.url}/healthz`)).status).toBe(200);
    const after = memoryStatus(controller.process.pid!);
    expect(after.rssMB - before.rssMB, `RSS ${before.rssMB.toFixed(0)} -> ${after.rssMB.toFixed(0)} MB; statuses ${JSON.stringify([...statuses])}`)
      .toBeLessThan(150);
    // The generators reach past the router's front door: refusals of several kinds and successes.
    if (PARAMETERS.numRuns >= 500) for (const status of [200, 400, 401, 404, 405]) expect(statuses.get(status) ?? 0, `status ${status} never seen: ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);
  }, 60_000);
});
