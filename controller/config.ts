/** The controller's configuration: YAML file, NIGHTSHIFT_CONTROLLER_* environment variables, flags. */
import { z } from "zod";

export const CONTROLLER_ENV_PREFIX = "NIGHTSHIFT_CONTROLLER_";

export const ControllerConfigSchema = z.object({
  /** ADDR:PORT for HTTP, the agent WebSocket, the API and /metrics. */
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected ADDR:PORT, e.g. 0.0.0.0:8650")
    .refine((l) => Number(l.slice(l.lastIndexOf(":") + 1)) <= 65535, "the port must be 0 to 65535 (0: any free port)")
    .default("127.0.0.1:8650"),
  dataDir: z.string().default("/var/lib/nightshift"),
  store: z.object({
    /**
     * SQLite's synchronous mode. full: every commit (and so every ack sent to an agent) is on disk
     * before it is acknowledged, power loss included. normal: a power cut can lose the last
     * commits while agents already dropped the acked events from their spools.
     */
    synchronous: z.enum(["full", "normal"]).default("full"),
  }).prefault({}),
  tls: z.object({
    cert: z.string().optional(),
    key: z.string().optional(),
  }).prefault({}),
  /** An admin API token; when unset one is generated into DATA_DIR/admin.token (mode 0600) on first start. */
  adminToken: z.string().min(16).optional(),
  liveness: z.object({
    /** A host whose agent was not heard from for this long is `missing`. */
    missingAfterSeconds: z.number().positive().default(90),
    checkIntervalSeconds: z.number().positive().default(5),
  }).prefault({}),
  agents: z.object({
    /** Told to agents in `welcome`: how often to send a full inventory. */
    inventoryIntervalSeconds: z.number().positive().default(300),
    /** WebSocket ping period; an agent silent for two periods is terminated. */
    heartbeatSeconds: z.number().positive().default(15),
    maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** A loop of duplicate agents gets one `rejected` history row per host per this many seconds, with the count. */
    rejectedEventIntervalSeconds: z.number().positive().default(60),
  }).prefault({}),
  runs: z.object({
    /** A step whose agent stays disconnected this long fails, and its VM needs attention. */
    agentLostTimeoutSeconds: z.number().positive().default(120),
    /** Reads and small operations: inspect, guest ping, start, snapshot lookups. */
    quickStepTimeoutSeconds: z.number().positive().default(60),
    /** One verify command or HTTP check; also an operator's patch hook's time limit is patchTimeout. */
    verifyTimeoutSeconds: z.number().positive().default(120),
    /** Snapshot creation and revert (a memory snapshot of a large VM takes minutes). */
    snapshotTimeoutSeconds: z.number().positive().default(900),
    /** Waiting for the guest agent after a start, reboot or revert. */
    guestAgentTimeoutSeconds: z.number().positive().default(300),
  }).prefault({}),
  retention: z.object({
    /** node-cron expression for deleting expired snapshots (5 fields, or 6 with seconds). */
    schedule: z.string().default("*/10 * * * *"),
  }).prefault({}),
  notifications: z.object({
    /** URLs that get a JSON POST on run start and end, rollbacks and VMs needing attention. */
    webhooks: z.array(z.string().url()).default([]),
    timeoutSeconds: z.number().positive().default(5),
  }).prefault({}),
  plans: z.object({
    /** How often the plan executor looks at the current plan: slots to start, runs that ended, reminders. */
    tickSeconds: z.number().positive().default(5),
    /** A group's `slot-reminder` goes this long before each slot; 0: no reminders. */
    reminderMinutes: z.number().min(0).default(1440),
    /** A sendmail binary (`sendmail -t -i`); set, and groups with an address in `emails` also get their notices by mail. */
    sendmail: z.string().min(1).optional(),
    /** Mail address per group: {acme: "noc@acme.example"}. */
    emails: z.record(z.string(), z.string().email()).default({}),
  }).prefault({}),
  log: z.object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") }).prefault({}),
});

export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;
