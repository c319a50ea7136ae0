/**
 * The controller's configuration: YAML file, NIGHTSHIFT_CONTROLLER_*
 * environment variables, flags (shared/config.ts loads it). Every key's
 * meaning is its `.describe()`; docs/configuration.md is generated from this schema.
 */
import { z } from "zod";
import { duration } from "../shared/duration.js";
import type { RenamedKeys } from "../shared/config-issues.js";
import type { ConfigOverride } from "../shared/config.js";
import { WELCOME_LIMITS } from "../shared/protocol/messages.js";

export const CONTROLLER_ENV_PREFIX = "NIGHTSHIFT_CONTROLLER_";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** A welcome bound (seconds) as a duration key's limits (ms). */
const secondsBounds = (bounds: { min: number; max: number }) => ({ min: bounds.min * 1000, max: bounds.max * 1000 });

export const ControllerConfigSchema = z.strictObject({
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected ADDR:PORT, e.g. 0.0.0.0:8650")
    .refine((l) => Number(l.slice(l.lastIndexOf(":") + 1)) <= 65535, "the port must be 0 to 65535 (0: any free port)")
    .default("127.0.0.1:8650").describe("ADDR:PORT for HTTP, the agent WebSocket, the API and /metrics."),
  dataDir: z.string().default("/var/lib/nightshift").describe(
    "The database `nightshift.db` and `admin.token`. One controller per directory: it is locked (`controller.lock`, " +
    "the holder's pid in `controller.pid`; the kernel drops the lock when the process dies)."),
  store: z.strictObject({
    synchronous: z.enum(["full", "normal"]).default("full").describe(
      "SQLite's sync mode. `full`: every commit, and so every ack an agent gets, is on disk first, power cuts included. " +
      "`normal`: survives process crashes only; a power cut can lose the last commits after agents dropped them from their " +
      "spools. Measured here: one commit costs ~180 µs with `full` against ~30 µs with `normal`, but the group writer makes " +
      "one commit per event-loop turn, so the event path did not slow down measurably (200 agents × 20 VMs streaming for " +
      "10 s: 38,100 events/s acked with `full`, 37,600 with `normal`)."),
  }).prefault({}),
  tls: z.strictObject({
    cert: z.string().optional().describe("PEM certificate (chain); with tls.key set the controller serves HTTPS and `wss://`."),
    key: z.string().optional().describe("PEM private key of tls.cert."),
  }).prefault({}),
  http: z.strictObject({
    maxConnectionsPerClient: z.number().int().positive().default(64).describe(
      "Connections one client address may hold open at once; the next ones are refused at once (503 `NS_ERR_TOO_MANY_CONNECTIONS`, " +
      "over TLS closed). Authenticated agent sessions do not count: a fleet behind one NAT address is not limited by it."),
    maxConnections: z.number().int().positive().optional().meta({ unset: "the open-file limit (/proc/self/limits) less 128" }).describe(
      "Connections of all clients at once, agents included; the next ones are refused like those over maxConnectionsPerClient. " +
      "Kept below the process's open-file limit so the database, webhooks and the API always have descriptors left."),
    maxPipelinedRequests: z.number().int().positive().default(32).describe(
      "Requests one connection may send ahead of their answers; more are answered 429 `NS_ERR_TOO_MANY_PIPELINED` and the " +
      "connection is closed. Pipelined requests are answered one at a time, each once the one before it was read."),
    tlsHandshakeTimeout: duration().prefault("10s").describe("A TLS connection that has not finished its handshake by then is closed."),
    maxTlsHandshakes: z.number().int().positive().default(128).describe(
      "TLS connections in their handshake at once; further ones are closed at once."),
  }).prefault({}),
  adminToken: z.string().min(16).optional().meta({ secret: true, unset: "generated into DATA_DIR/admin.token (mode 0600) on first start" })
    .describe("An admin API token (at least 16 characters)."),
  netconsole: z.strictObject({
    listen: z.string().regex(/^((\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5})?$/, "expected ADDR:PORT, e.g. 0.0.0.0:6666, or empty").default("")
      .describe("UDP ADDR:PORT where hosts' kernels send their console lines (netconsole): a host in emergency mode is seen within " +
        "seconds, while its agent does not run. Empty: not listening. Lines are taken only from enrolled hosts' addresses (their " +
        "agents' latest session)."),
  }).prefault({}),
  liveness: z.strictObject({
    missingAfter: duration().prefault("90s").describe("A host whose agent was not heard from for this long is `missing`."),
    checkInterval: duration().prefault("5s").describe("How often that is checked."),
  }).prefault({}),
  agents: z.strictObject({
    inventoryInterval: duration(secondsBounds(WELCOME_LIMITS.inventoryIntervalSeconds)).prefault("5m")
      .describe("Told to agents in `welcome`: how often to send a full inventory (each agent jitters it by ±20 %); " +
        "1s to 1d, the bounds agents hold a welcome to."),
    heartbeat: duration(secondsBounds(WELCOME_LIMITS.heartbeatSeconds)).prefault("15s")
      .describe("WebSocket ping period, also told to agents; an agent silent for two periods is terminated. 1s to 60s, the bounds agents hold a welcome to."),
    maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024).describe("Larger frames from an agent are refused (close code 1009)."),
    rejectedEventInterval: duration().prefault("1m").describe(
      "A loop of duplicate or too frequent agents gets at most one `rejected` history entry per host and reason this often, " +
      "with the count of refusals."),
    maxSessions: z.number().int().positive().default(10).describe(
      "Sessions one host's agent may open per maxSessionsInterval; further upgrades are refused (429 `NS_ERR_TOO_MANY_SESSIONS`, " +
      "with Retry-After) until the oldest of them is that long ago. An agent reconnecting after a network failure is well within it."),
    maxSessionsInterval: duration().prefault("1m").describe("The sliding window of agents.maxSessions."),
  }).prefault({}),
  runs: z.strictObject({
    agentLostTimeout: duration().prefault("2m").describe("How long a step waits for its disconnected agent before the VM needs attention."),
    quickStepTimeout: duration().prefault("1m").describe("Reads and small operations: inspect, guest ping, start, snapshot lookups and deletes."),
    verifyTimeout: duration().prefault("2m").describe("One verify command or HTTP check (a patch hook's own limit is the run's patchTimeout)."),
    snapshotTimeout: duration().prefault("15m").describe("Snapshot creation and revert (a memory snapshot of a large VM takes minutes)."),
    guestAgentTimeout: duration().prefault("5m").describe("Waiting for the guest agent after a start, reboot or revert."),
  }).prefault({}),
  retention: z.strictObject({
    schedule: z.string().default("*/10 * * * *")
      .describe("node-cron expression of the retention jobs, deleting expired snapshots and old resolved findings (5 fields, or 6 with seconds)."),
    resolvedFindings: duration().prefault("90d").describe(
      "Resolved findings (the history of `nightshift findings --resolved`) are deleted this long after they were resolved; open ones are kept."),
    resolvedFindingsPerHost: z.number().int().positive().default(10_000).describe(
      "At most this many resolved findings are kept per host, the most recently resolved: an agent that opens and resolves " +
      "findings by the thousand cannot grow the history without bound within resolvedFindings."),
  }).prefault({}),
  notifications: z.strictObject({
    webhooks: z.array(z.string().url()).default([])
      .describe("URLs that get a JSON POST on run start and end, rollbacks and VMs needing attention."),
    timeout: duration().prefault("5s").describe("Per webhook delivery attempt."),
  }).prefault({}),
  plans: z.strictObject({
    tick: duration().prefault("5s")
      .describe("How often the plan executor looks at the current plan: slots to start, runs that ended, reminders."),
    reminder: duration({ zero: true }).prefault("1d").describe("A group's `slot-reminder` goes this long before each of its slots; 0s: no reminders."),
    sendmail: z.string().min(1).optional()
      .describe("A sendmail binary (`sendmail -t -i`); set, groups with an address in plans.emails also get their notices by mail."),
    emails: z.record(z.string(), z.string().email()).default({}).describe('Mail address per group: `{"acme": "noc@acme.example"}`.'),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default("info").describe("pino level; logs are JSON lines on stderr."),
  }).prefault({}),
});

/** Durations in milliseconds. */
export type ControllerConfig = z.output<typeof ControllerConfigSchema>;

/** Keys of earlier versions: refused with what they became. */
export const CONTROLLER_RENAMED: RenamedKeys = {
  "liveness.missingAfterSeconds": { to: "missingAfter", unit: "s" },
  "liveness.checkIntervalSeconds": { to: "checkInterval", unit: "s" },
  "agents.inventoryIntervalSeconds": { to: "inventoryInterval", unit: "s" },
  "agents.heartbeatSeconds": { to: "heartbeat", unit: "s" },
  "agents.rejectedEventIntervalSeconds": { to: "rejectedEventInterval", unit: "s" },
  "runs.agentLostTimeoutSeconds": { to: "agentLostTimeout", unit: "s" },
  "runs.quickStepTimeoutSeconds": { to: "quickStepTimeout", unit: "s" },
  "runs.verifyTimeoutSeconds": { to: "verifyTimeout", unit: "s" },
  "runs.snapshotTimeoutSeconds": { to: "snapshotTimeout", unit: "s" },
  "runs.guestAgentTimeoutSeconds": { to: "guestAgentTimeout", unit: "s" },
  "notifications.timeoutSeconds": { to: "timeout", unit: "s" },
  "plans.tickSeconds": { to: "tick", unit: "s" },
  "plans.reminderMinutes": { to: "reminder", unit: "m" },
};

/** The flags of `nightshift-controller` and its `check-config` that set keys. */
export const CONTROLLER_FLAGS = [
  { flags: "--listen <addr:port>", key: "listen", path: ["listen"], help: "address and port for HTTP, agents and metrics" },
  { flags: "--data-dir <dir>", key: "dataDir", path: ["dataDir"], help: "where the database and admin.token live" },
] as const;

/** The overrides the flags make, by commander's option names. */
export function controllerFlagOverrides(flags: Partial<Record<(typeof CONTROLLER_FLAGS)[number]["key"], string>>): ConfigOverride[] {
  return CONTROLLER_FLAGS.map((f) => ({ path: f.path, value: flags[f.key], flag: f.flags.split(" ")[0]! }));
}
