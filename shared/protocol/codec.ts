/**
 * Parsing and validation of protocol frames, the same on both ends. A frame
 * that fails is described precisely enough for the sender's operator to fix
 * it; the receiver answers with an `error` message and carries on.
 */
import type { z } from "zod";
import {
  AgentFrameSchema, ControllerMessageSchema, MAX_JSON_DEPTH, MAX_JSON_ENTRIES, MAX_JSON_ITEMS, PROTOCOL_VERSION, type AgentFrame, type AgentMessage, type ControllerMessage,
} from "./messages.js";
import { jsonShapeProblem } from "./json-shape.js";
import type { ErrorCode } from "../error-codes.js";

export type ProtocolErrorKind = "malformed-json" | "too-deep" | "too-many-items" | "too-many-entries" | "unsupported-version" | "unknown-type" | "schema";

/** The code a frame refused for each kind is answered with (shared/error-codes.ts). */
export const PROTOCOL_ERROR_CODES = {
  "malformed-json": "NS_ERR_PROTOCOL_MALFORMED_JSON",
  "too-deep": "NS_ERR_PROTOCOL_TOO_DEEP",
  "too-many-items": "NS_ERR_PROTOCOL_TOO_MANY_ITEMS",
  "too-many-entries": "NS_ERR_PROTOCOL_TOO_MANY_ENTRIES",
  "unsupported-version": "NS_ERR_PROTOCOL_UNSUPPORTED_VERSION",
  "unknown-type": "NS_ERR_PROTOCOL_UNKNOWN_TYPE",
  schema: "NS_ERR_PROTOCOL_SCHEMA",
} as const satisfies Record<ProtocolErrorKind, ErrorCode>;

/**
 * A failure carries `value`, the parsed JSON, only when the text got as far as JSON.parse: never for
 * a frame the shape check refused, so nothing downstream is tempted to parse one after all.
 */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; kind: ProtocolErrorKind; detail: string; value?: unknown };

const KNOWN_AGENT_TYPES = new Set(["hello", "inventory", "events", "events-lost", "agent-down", "health", "step-result", "libvirt-state"]);
const KNOWN_CONTROLLER_TYPES = new Set(["welcome", "ack", "error", "step"]);

function parseWith<T>(schema: z.ZodType<T>, known: Set<string>, text: string): ParseResult<T> {
  const shape = jsonShapeProblem(text, { maxDepth: MAX_JSON_DEPTH, maxItems: MAX_JSON_ITEMS, maxEntries: MAX_JSON_ENTRIES });
  if (shape) return { ok: false, kind: shape.kind, detail: shape.detail };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, kind: "malformed-json", detail: `not JSON: ${(err as Error).message}` };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, kind: "malformed-json", detail: "a message must be a JSON object", value: raw };
  }
  const { v, type } = raw as { v?: unknown; type?: unknown };
  if (v !== PROTOCOL_VERSION) {
    return { ok: false, kind: "unsupported-version", detail: `protocol version ${JSON.stringify(v)} is not supported; this end speaks v${PROTOCOL_VERSION}`,
      value: raw };
  }
  if (typeof type !== "string" || !known.has(type)) {
    return { ok: false, kind: "unknown-type", detail: `unknown message type ${JSON.stringify(type)}; expected one of ${[...known].join(", ")}`, value: raw };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`);
    return { ok: false, kind: "schema", detail: `invalid ${type} message: ${issues.join("; ")}`, value: raw };
  }
  return { ok: true, message: result.data };
}

/**
 * An agent frame, validated as a whole except for the items of its lists:
 * check those with items.ts, each on its own.
 */
export function parseAgentMessage(text: string): ParseResult<AgentFrame> {
  return parseWith(AgentFrameSchema, KNOWN_AGENT_TYPES, text);
}

export function parseControllerMessage(text: string): ParseResult<ControllerMessage> {
  return parseWith(ControllerMessageSchema, KNOWN_CONTROLLER_TYPES, text);
}

/** A message as its sender writes it: everything but the version. */
export type Unversioned<T> = T extends unknown ? Omit<T, "v"> : never;

/** Serializes a message; the version is added here so no sender forgets it. */
export function encodeMessage(message: Unversioned<AgentMessage | ControllerMessage>): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, ...message });
}
