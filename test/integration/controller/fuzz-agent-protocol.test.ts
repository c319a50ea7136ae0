/**
 * Property test of the agent endpoint against a real controller process:
 * each run connects one enrolled host over a real WebSocket to /v1/agent,
 * says hello or not, and sends random frames — random JSON, wrong types,
 * wrong `v`, valid messages with a field replaced, big frames, deep nesting,
 * huge arrays, binary frames, text that is not UTF-8, a hello for another
 * host — and may first try a raw upgrade with a broken handshake. Asserted:
 * the process stays up; every frame built to be refused gets an `error` with
 * a registered NS_ERR code (docs/errors.md), or the connection is closed with a
 * documented close code; every upgrade is answered with 101 or a documented
 * status and JSON NS_ERR body; the host is never locked out (it can always
 * connect again); and a well-behaved agent connected alongside has its events
 * acked after every run. RSS growth is bounded at the end.
 *
 * Fixed seed, bounded runs: NIGHTSHIFT_FUZZ_SEED and NIGHTSHIFT_FUZZ_RUNS change them. A failing
 * run is reported unshrunk (the runs share one controller, so shrinking would replay against the
 * state the failure left behind).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import WebSocket from "ws";
import { startController, type TestController } from "../../helpers/controller.js";
import { controllerApi } from "../../helpers/controller-api.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import { hostileJson } from "../../helpers/hostile-json.js";
import { rawRequest, upgradeRequest } from "../../helpers/raw-http.js";
import { DOCUMENTED_CLOSE_CODES, documentedErrorCodes, fuzzParameters, undocumentedError } from "../../helpers/fuzz.js";
import { parseControllerMessage } from "../../../shared/protocol/codec.js";
import type { ControllerMessage } from "../../../shared/protocol/messages.js";
import { memoryStatus } from "../../../bench/controller-load-proc.js";

const PARAMETERS = fuzzParameters({ seed: 0x5eed_0002, numRuns: 300 });
const FUZZ_HOST = "hv-fuzz";
const GOOD_HOST = "hv-good";
const UPGRADE_STATUSES = new Set([101, 400, 401, 404, 405, 409]);

let controller: TestController;
const tokens: Record<string, string> = {};
let good: TestAgent;
const goodVm = sampleDomain("good-vm");
const { ok } = controllerApi(() => controller);

beforeAll(async () => {
  // Every scenario opens a session of the same host: far more per minute than agents.maxSessions lets a real agent.
  controller = await startController({ config: { agents: { maxSessions: 100_000 } }, env: { NIGHTSHIFT_LOG_LEVEL: "fatal" } });
  for (const name of [FUZZ_HOST, GOOD_HOST]) tokens[name] = (await ok<{ token: string }>("POST", "/v1/hosts", { name }, 201)).token;
  good = await TestAgent.connect(controller.url, tokens[GOOD_HOST]!);
  good.hello(GOOD_HOST);
  await good.next("welcome");
  good.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [goodVm] });
});

afterAll(async () => {
  await good?.close();
  await controller?.stop();
});

// ---- frames -------------------------------------------------------------------------------

const now = () => new Date().toISOString();
const fuzzVm = sampleDomain("fuzz-vm");
/** One valid message of each type the agent sends. */
const VALID: Record<string, () => Record<string, unknown>> = {
  hello: () => ({ v: 1, type: "hello", host: FUZZ_HOST, hostname: "fuzz.example", agentVersion: "0.1.0", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" }),
  inventory: () => ({ v: 1, type: "inventory", collectedAt: now(), domains: [fuzzVm] }),
  events: () => ({ v: 1, type: "events", events: [{ id: randomUUID(), time: now(), domain: fuzzVm.name, uuid: fuzzVm.uuid, kind: "lifecycle", event: "started", detail: "booted" }] }),
  "events-lost": () => ({ v: 1, type: "events-lost", id: randomUUID(), count: 3, firstLostAt: now(), lastLostAt: now() }),
  health: () => ({ v: 1, type: "health", report: { collectedAt: now(), probes: [], findings: [], mounts: [], systemd: null } }),
  "step-result": () => ({ v: 1, type: "step-result", id: "no-such-step", outcome: { ok: false, error: { code: "NS_ERR_STEP_FAILED", message: "x" } } }),
  "libvirt-state": () => ({ v: 1, type: "libvirt-state", state: "unreachable", since: now(), code: "NS_ERR_LIBVIRT_SOCKET_MISSING", detail: "socket /x missing" }),
};

/**
 * A frame as a description (materialized when sent, so counterexamples print short) and whether it
 * was built to be refused: `refused` frames must get an `error` or a documented close; the others
 * (valid, or valid with one field replaced) may be accepted.
 */
type Frame =
  | { kind: "json"; text: string }
  | { kind: "message-like"; value: Record<string, unknown> }
  | { kind: "valid"; type: string }
  | { kind: "mutated"; type: string; key: string; value: unknown }
  | { kind: "big"; bytes: number }
  | { kind: "hostile"; shape: "array" | "object" | "wide"; bytes: number }
  | { kind: "binary"; bytes: Uint8Array }
  | { kind: "not-utf8" }
  | { kind: "other-host" };

const REFUSED = new Set<Frame["kind"]>(["json", "message-like", "big", "hostile", "binary", "not-utf8", "other-host"]);
const TYPES = Object.keys(VALID);

const notOne = fc.oneof(fc.constantFrom(0, 2, 99, -1, "1", "v1", null, true, 1.5), fc.jsonValue({ maxDepth: 1 }).filter((v) => v !== 1));
const frame: fc.Arbitrary<Frame> = fc.oneof(
  // Not an object, or an object without v: 1 and a known type with its fields.
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== "object" || v === null || Array.isArray(v) || (v as { v?: unknown }).v !== 1)
    .map((v): Frame => ({ kind: "json", text: JSON.stringify(v) })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }).filter((t) => { try { JSON.parse(t); return false; } catch { return true; } })
    .map((text): Frame => ({ kind: "json", text })) },
  { weight: 3, arbitrary: fc.record({ v: fc.option(notOne, { nil: undefined }), type: fc.oneof(fc.constantFrom(...TYPES), fc.string({ maxLength: 20 })),
    extra: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) })
    .map(({ v, type, extra }): Frame => ({ kind: "message-like", value: { ...extra, ...(v === undefined ? {} : { v }), type } })) },
  { weight: 2, arbitrary: fc.record({ type: fc.constantFrom(...TYPES), extra: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }) })
    .map(({ type, extra }): Frame => ({ kind: "message-like", value: { ...extra, v: 1, type } })).filter((f) => {
      // v: 1 and a known type, but only random fields: refused by the schema unless the type needs none of them.
      const value = (f as { value: Record<string, unknown> }).value;
      return !Object.keys(VALID[value.type as string]!()).every((k) => k in value);
    }) },
  { weight: 2, arbitrary: fc.constantFrom(...TYPES).map((type): Frame => ({ kind: "valid", type })) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...TYPES), fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([type, i, value]): Frame => {
    const keys = Object.keys(VALID[type]!());
    return { kind: "mutated", type, key: keys[i % keys.length]!, value };
  }) },
  { weight: 1, arbitrary: fc.integer({ min: 16 * 1024 + 1, max: 600 * 1024 }).map((bytes): Frame => ({ kind: "big", bytes })) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom("array" as const, "object" as const, "wide" as const), fc.integer({ min: 200, max: 400 * 1024 }))
    .map(([shape, bytes]): Frame => ({ kind: "hostile", shape, bytes: shape === "wide" ? Math.max(bytes, 41_000) : bytes })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Frame => ({ kind: "binary", bytes })) },
  { weight: 1, arbitrary: fc.constant<Frame>({ kind: "not-utf8" }) },
  { weight: 1, arbitrary: fc.constant<Frame>({ kind: "other-host" }) },
);

function send(ws: WebSocket, f: Frame): void {
  switch (f.kind) {
    case "json": return ws.send(f.text);
    case "message-like": return ws.send(JSON.stringify(f.value));
    case "valid": return ws.send(JSON.stringify(VALID[f.type]!()));
    case "mutated": return ws.send(JSON.stringify({ ...VALID[f.type]!(), [f.key]: f.value }));
    case "big": return ws.send("x".repeat(f.bytes));
    // Over 16 KiB before hello is refused as too large; after, as too deep or wide (or not JSON, the object shape when it is cut short).
    case "hostile": return ws.send(hostileJson(f.shape, f.bytes));
    case "binary": return ws.send(f.bytes, { binary: true });
    case "not-utf8": return ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    case "other-host": return ws.send(JSON.stringify({ ...VALID.hello!(), host: GOOD_HOST }));
  }
}

// ---- upgrades -----------------------------------------------------------------------------

interface Upgrade {
  method: string;
  path: string;
  token: "fuzz" | "good" | "none" | "garbage";
  headers: Record<string, string | null>;
}
const upgrade: fc.Arbitrary<Upgrade> = fc.record({
  method: fc.constantFrom("GET", "GET", "POST", "PUT", "OPTIONS"),
  path: fc.constantFrom("/v1/agent", "/v1/agent", "/v1/agent?x=1", "/v1/agent/", "//", "/v1//agent", "*", "/v1/%E0%A4%A"),
  token: fc.constantFrom<Upgrade["token"]>("fuzz", "good", "none", "garbage"),
  headers: fc.record({
    "Sec-WebSocket-Key": fc.constantFrom(undefined, null, "", "short", "dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!=="),
    "Sec-WebSocket-Version": fc.constantFrom(undefined, null, "13", "8", "12", "abc", ""),
    Upgrade: fc.constantFrom(undefined, "websocket", "WebSocket", "h2c", "websocket, h2c"),
    "Sec-WebSocket-Protocol": fc.constantFrom(undefined, "a,,b", "nightshift", "a b"),
  }, { requiredKeys: [] }).map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string | null>),
});

async function tryUpgrade(u: Upgrade): Promise<void> {
  const authorization = { fuzz: `Bearer ${tokens[FUZZ_HOST]}`, good: `Bearer ${tokens[GOOD_HOST]}`, none: null, garbage: "Bearer nsh_x" }[u.token];
  const answer = await rawRequest(controller.url, upgradeRequest(u.path, { Authorization: authorization, ...u.headers }, u.method), { timeoutMs: 3_000 });
  const what = `${u.method} ${u.path} token ${u.token} ${JSON.stringify(u.headers)}: ${answer.raw.slice(0, 300)}`;
  expect(answer.status, `no answer to the upgrade ${what}`).not.toBeNull();
  expect(UPGRADE_STATUSES.has(answer.status!), `undocumented status: ${what}`).toBe(true);
  if (answer.status !== 101) expect(undocumentedError(answer.body), what).toBeNull();
  // The good agent holds its host: a second one for it is always refused.
  if (u.token === "good" && answer.status === 101) throw new Error(`a second agent for ${GOOD_HOST} was accepted: ${what}`);
}

// ---- one run ------------------------------------------------------------------------------

interface FuzzConnection {
  ws: WebSocket;
  received: ControllerMessage[];
  /** The close code when the controller closed the connection. */
  closedWith: number | null;
  closed: Promise<void>;
}

/** Connects the fuzzed host; a 409 while its previous session is let go is retried, for at most 3 s: longer is a lock-out. */
async function connect(): Promise<FuzzConnection> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const ws = new WebSocket(controller.agentUrl, { headers: { Authorization: `Bearer ${tokens[FUZZ_HOST]}` } });
    const result = await new Promise<number | null>((resolve) => {
      ws.once("open", () => resolve(null));
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("error", () => resolve(-1));
    });
    if (result === null) {
      const conn: FuzzConnection = { ws, received: [], closedWith: null, closed: once(ws, "close").then(() => undefined) };
      ws.on("message", (data, isBinary) => {
        expect(isBinary, "the controller sent a binary frame").toBe(false);
        const parsed = parseControllerMessage(data.toString());
        if (!parsed.ok) throw new Error(`the controller sent an invalid message: ${parsed.detail}`);
        conn.received.push(parsed.message);
      });
      ws.on("close", (code) => { conn.closedWith ??= code; });
      ws.on("error", () => {});
      return conn;
    }
    ws.terminate();
    if (controller.process.exitCode !== null || controller.process.signalCode !== null) {
      throw new Error(`the controller exited (${controller.process.exitCode ?? controller.process.signalCode}); its log ends:\n${controller.logs().slice(-3_000)}`);
    }
    if (result !== 409 || Date.now() > deadline) throw new Error(`${FUZZ_HOST} cannot connect: ${result === -1 ? "connection error" : `HTTP ${result}`}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once everything the controller did synchronously for the frames before has reached us (a pong), or the connection closed. */
async function settled(conn: FuzzConnection): Promise<void> {
  if (conn.ws.readyState !== WebSocket.OPEN) return conn.closed;
  const pong = once(conn.ws, "pong").then(() => undefined);
  conn.ws.ping();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error("no pong within 5 s")), 5_000); });
  try {
    await Promise.race([pong, conn.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function goodAgentServed(): Promise<void> {
  const id = randomUUID();
  good.send({ v: 1, type: "events", events: [{ id, time: now(), domain: goodVm.name, uuid: goodVm.uuid, kind: "lifecycle", event: "started", detail: "booted" }] });
  expect((await good.next("ack", 3_000)).ids).toEqual([id]);
}

const scenario = fc.record({
  upgrade: fc.option(upgrade, { freq: 3 }),
  hello: fc.boolean(),
  frames: fc.array(frame, { minLength: 1, maxLength: 4 }),
});

describe("agent protocol fuzz", () => {
  it(`refuses every bad frame with a documented answer and keeps serving (seed ${PARAMETERS.seed}, ${PARAMETERS.numRuns} runs)`, async () => {
    const before = memoryStatus(controller.process.pid!);
    const codes = documentedErrorCodes();
    const seenCodes = new Set<string>();
    const seenCloses = new Set<number>();
    await fc.assert(fc.asyncProperty(scenario, async ({ upgrade: u, hello, frames }) => {
      if (u) await tryUpgrade(u);
      const conn = await connect();
      try {
        if (hello) {
          send(conn.ws, { kind: "valid", type: "hello" });
          await settled(conn);
          for (let i = 0; i < 100 && !conn.received.some((m) => m.type === "welcome"); i++) await new Promise((r) => setTimeout(r, 10));
          expect(conn.received.map((m) => m.type), "hello not welcomed").toContain("welcome");
        }
        for (const f of frames) {
          if (conn.closedWith !== null) break;
          const errorsBefore = conn.received.filter((m) => m.type === "error").length;
          send(conn.ws, f);
          await settled(conn);
          const errors = conn.received.filter((m) => m.type === "error");
          for (const e of errors) {
            expect(codes.has((e as { code: string }).code), `undocumented error code ${JSON.stringify(e)}`).toBe(true);
            seenCodes.add((e as { code: string }).code);
          }
          if (conn.closedWith !== null) {
            seenCloses.add(conn.closedWith);
            expect(DOCUMENTED_CLOSE_CODES.has(conn.closedWith), `closed with ${conn.closedWith} after ${JSON.stringify(f).slice(0, 200)}`).toBe(true);
          } else if (REFUSED.has(f.kind)) {
            expect(errors.length, `no error for ${JSON.stringify(f).slice(0, 200)}; got ${JSON.stringify(conn.received.slice(-3))}`).toBeGreaterThan(errorsBefore);
          }
        }
      } finally {
        if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close();
        await conn.closed;
      }
      expect(controller.process.exitCode, controller.logs()).toBeNull();
      await goodAgentServed();
    // One controller lives through every run: a failure is reported as it happened, not shrunk
    // against a controller that the failing run already changed (or ended).
    }), { ...PARAMETERS, endOnFailure: true });

    expect((await fetch(`${controller.url}/healthz`)).status).toBe(200);
    const after = memoryStatus(controller.process.pid!);
    expect(after.rssMB - before.rssMB, `RSS ${before.rssMB.toFixed(0)} -> ${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)})`).toBeLessThan(200);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    // The generators reach every kind of refusal (a pass is not vacuous).
    const expectedCodes = ["MALFORMED_JSON", "UNSUPPORTED_VERSION", "UNKNOWN_TYPE", "SCHEMA", "ORDER", "BINARY", "TOO_LARGE", "TOO_DEEP", "TOO_MANY_ITEMS"]
      .map((c) => `NS_ERR_PROTOCOL_${c}`).concat("NS_ERR_HOST_MISMATCH");
    if (PARAMETERS.numRuns >= 200) {
      expect([...seenCodes].sort()).toEqual(expect.arrayContaining(expectedCodes));
      expect([...seenCloses].sort()).toEqual(expect.arrayContaining([1007, 1009, 4403]));
    }
  }, 120_000);
});
