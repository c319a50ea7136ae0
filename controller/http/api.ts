/**
 * The JSON API under /v1 that the `nightshift` CLI uses. Response shapes are
 * part of the CLI's documented `--json` output: add fields, never rename.
 */
import type { ConsoleLineRecord, EnrolledHostRecord, ExpectedStopRecord, HostEmergencyRecord, HostRecord, RevokedHostRecord, StatusRecord } from "../../shared/api.js";
import { z } from "zod";
import { ApiError, Created, RawResponse, type Router } from "./router.js";
import type { Store } from "../store/index.js";
import type { AgentHub } from "../hub/agent-hub.js";
import type { ControllerMetrics } from "../metrics.js";
import { generateToken } from "../tokens.js";
import { recordHostEvent } from "../hub/host-events.js";
import { parseSince, SINCE_FORMS } from "../../shared/duration.js";
import { registerFindingsApi } from "./findings-api.js";
import { UNEXPECTED_STOP } from "../hub/unexpected-stops.js";
import type { ConsoleLines } from "../console/console-lines.js";
import { readEmergency } from "../console/host-emergency.js";

export interface ApiDeps {
  /** The hosts' last netconsole lines (GET /v1/hosts/:name/console). */
  consoleLines: ConsoleLines;
  store: Store;
  hub: AgentHub;
  metrics: ControllerMetrics;
  version: string;
  startedAt: number;
  isReady(): boolean;
}

const HOST_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;
// Length first, on its own: a name that is only too long must not be told it has a bad character.
const EnrollBody = z.object({
  name: z.string().min(1, "a host name is needed").max(253, "host names are at most 253 characters")
    .regex(HOST_NAME, "host names are letters, digits, '.', '_' and '-', starting with a letter or digit"),
});

const ExpectStopBody = z.object({
  host: z.string().min(1),
  reason: z.string().min(1).max(1000),
  /** How long from now a stop counts as expected; default 2 h. */
  forSeconds: z.number().positive().max(30 * 86_400).default(7_200),
});

function emergencyRecord(json: string | null): HostEmergencyRecord | null {
  const e = readEmergency(json);
  return e && { since: new Date(e.since).toISOString(), target: e.target, boot: e.boot, failedUnits: e.failedUnits, fstab: e.fstab };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function registerApi(router: Router, deps: ApiDeps): void {
  const { store, hub } = deps;

  router.add("GET", "/healthz", () => new RawResponse(200, "text/plain", "ok\n"), { public: true });
  router.add("GET", "/readyz", () => (deps.isReady()
    ? new RawResponse(200, "text/plain", "ready\n")
    : new RawResponse(503, "text/plain", "starting\n")), { public: true });
  router.add("GET", "/metrics", async () =>
    new RawResponse(200, deps.metrics.registry.contentType, await deps.metrics.registry.metrics()), { public: true });

  router.add("GET", "/v1/hosts", () => {
    const vmCounts = store.domains.countByHost();
    return store.hosts.list().map((h): HostRecord => ({
      name: h.name,
      status: h.status,
      connected: hub.isConnected(h.id),
      lastSeenAt: iso(Math.max(h.last_seen_at ?? 0, hub.lastSeen(h.id) ?? 0) || null),
      hostname: h.hostname,
      agentVersion: h.agent_version,
      libvirtVersion: h.libvirt_version,
      // What the agent last said of libvirt (null: it never said); while unreachable, the host's VMs are as last reported.
      libvirt: h.libvirt_state === null ? null
        : { state: h.libvirt_state, code: h.libvirt_code, detail: h.libvirt_detail, since: iso(h.libvirt_since) },
      vms: vmCounts.get(h.id) ?? 0,
      enrolledAt: iso(h.enrolled_at),
      emergency: emergencyRecord(h.emergency),
    }));
  });

  router.add("GET", "/v1/hosts/:name/console", ({ params }) => {
    const host = store.hosts.findByName(params.name!);
    if (!host) throw new ApiError("NS_ERR_NO_HOST", `no host named '${params.name}'`);
    return deps.consoleLines.last(host.id).map((l): ConsoleLineRecord => ({ at: new Date(l.at).toISOString(), text: l.text }));
  });

  router.add("POST", "/v1/hosts", ({ body }) => {
    const parsed = EnrollBody.safeParse(body);
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", parsed.error.issues.map((i) => i.message).join("; "));
    const token = generateToken("host");
    const now = Date.now();
    const host = store.transaction(() => {
      const row = store.hosts.enroll(parsed.data.name, token, now);
      if (row) recordHostEvent(store, row.id, "enrolled", now);
      return row;
    });
    if (!host) {
      throw new ApiError("NS_ERR_HOST_EXISTS",
        `host '${parsed.data.name}' is already enrolled; revoke it first to issue a new token`);
    }
    return new Created({ name: host.name, token, enrolledAt: new Date(now).toISOString() } satisfies EnrolledHostRecord);
  });

  router.add("POST", "/v1/hosts/:name/revoke", ({ params }) => {
    const host = store.hosts.findByName(params.name!);
    if (!host) throw new ApiError("NS_ERR_NO_HOST", `no host named '${params.name}'`);
    if (host.status === "revoked") throw new ApiError("NS_ERR_HOST_REVOKED", `host '${host.name}' is already revoked`);
    const now = Date.now();
    store.transaction(() => {
      store.hosts.revoke(host.id, now);
      recordHostEvent(store, host.id, "revoked", now);
    });
    hub.disconnect(host.id, 4401, "host token revoked");
    return { name: host.name, status: "revoked", revokedAt: new Date(now).toISOString() } satisfies RevokedHostRecord;
  });

  router.add("GET", "/v1/vms", ({ url }) => {
    const host = url.searchParams.get("host") ?? undefined;
    if (host && !store.hosts.findByName(host)) throw new ApiError("NS_ERR_NO_HOST", `no host named '${host}'`);
    return store.domains.list(host);
  });

  router.add("GET", "/v1/events", ({ url }) => {
    const sinceText = url.searchParams.get("since");
    const since = sinceText ? parseSince(sinceText) : undefined;
    if (since === null) throw new ApiError("NS_ERR_BAD_REQUEST", `since=${sinceText}: expected ${SINCE_FORMS}`);
    const limitText = url.searchParams.get("limit");
    const limit = limitText ? Number(limitText) : undefined;
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      throw new ApiError("NS_ERR_BAD_REQUEST", `limit=${limitText}: expected a positive integer`);
    }
    const hostFilter = url.searchParams.get("host");
    if (hostFilter && !store.hosts.findByName(hostFilter)) throw new ApiError("NS_ERR_NO_HOST", `no host named '${hostFilter}'`);
    return store.events.query({
      host: url.searchParams.get("host") ?? undefined, vm: url.searchParams.get("vm") ?? undefined, since, limit,
    });
  });

  registerFindingsApi(router, store);

  router.add("POST", "/v1/vms/:name/expect-stop", ({ params, body }) => {
    const parsed = ExpectStopBody.safeParse(body);
    if (!parsed.success) throw new ApiError("NS_ERR_BAD_REQUEST", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    const host = store.hosts.findByName(parsed.data.host);
    if (!host) throw new ApiError("NS_ERR_NO_HOST", `no host named '${parsed.data.host}'`);
    // A typo would otherwise record an expectation that protects nothing, and say it worked.
    if (!store.domains.findByName(params.name!).some((d) => d.host_id === host.id)) {
      throw new ApiError("NS_ERR_NO_VM", `no VM named '${params.name}' on host ${host.name} in the inventory (see nightshift vms --host ${host.name})`);
    }
    const now = Date.now();
    const until = now + parsed.data.forSeconds * 1000;
    const resolved = store.transaction(() => {
      store.health.recordExpectedStop(host.id, params.name!, until, parsed.data.reason, "operator", now);
      recordHostEvent(store, host.id, "expected-stop", now, { vm: params.name, reason: parsed.data.reason, until: iso(until) });
      // Recorded after the fact: the stop it explains is no longer unexpected.
      return store.health.resolveFinding(host.id, UNEXPECTED_STOP, params.name!, now);
    });
    return new Created({ host: host.name, vm: params.name!, reason: parsed.data.reason, until: new Date(until).toISOString(), resolvedFinding: resolved } satisfies ExpectedStopRecord);
  });

  router.add("GET", "/v1/status", () => {
    const hosts = store.hosts.list();
    const byStatus = (s: string) => hosts.filter((h) => h.status === s).length;
    const vmStates = store.domains.countByState();
    const vmTotal = Object.values(vmStates).reduce((a, b) => a + b, 0);
    return {
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      hosts: { total: hosts.length, up: byStatus("up"), missing: byStatus("missing"), enrolled: byStatus("enrolled"), revoked: byStatus("revoked") },
      agentsConnected: hub.connectedAgents(),
      vms: { total: vmTotal, byState: vmStates },
      eventsStored: store.events.count(),
    } satisfies StatusRecord;
  });
}
