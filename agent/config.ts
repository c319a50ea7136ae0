/** The agent's configuration: YAML file, NIGHTSHIFT_AGENT_* environment variables, flags. */
import path from "node:path";
import { z } from "zod";
import { ProbeSettingsSchema } from "./probes/settings.js";

export const AGENT_ENV_PREFIX = "NIGHTSHIFT_AGENT_";

export const AgentConfigSchema = z.object({
  /** WebSocket URL of the controller's agent endpoint, e.g. wss://controller:8650/v1/agent */
  controller: z.string().regex(/^wss?:\/\//, "must be a ws:// or wss:// URL"),
  /** File holding this host's token (from `nightshift hosts enroll`). */
  tokenFile: z.string().default("/etc/nightshift/agent.token"),
  /** The enrolled host name; defaults to the machine's hostname. */
  host: z.string().min(1).optional(),
  libvirt: z.object({
    uri: z.string().default("qemu:///system"),
    socket: z.string().optional(),
  }).prefault({}),
  /** Spool and other state that must survive restarts. */
  stateDir: z.string().default("/var/lib/nightshift-agent"),
  /** Full inventory period; each tick is jittered by +-20% against thundering herds. */
  inventoryIntervalSeconds: z.number().positive().default(300),
  /** WebSocket ping period; a peer silent for two periods is terminated. */
  heartbeatSeconds: z.number().positive().default(15),
  reconnect: z.object({
    initialDelayMs: z.number().positive().default(500),
    maxDelayMs: z.number().positive().default(30_000),
  }).prefault({}),
  spool: z.object({
    /** Events kept on disk while the controller is unreachable; the oldest go first. */
    maxEvents: z.number().int().positive().default(100_000),
  }).prefault({}),
  tls: z.object({
    /** CA bundle to trust for a controller with a private certificate. */
    caFile: z.string().optional(),
  }).prefault({}),
  /** Host-health probes: how often they run, and what the operator marks (see agent/probes/settings.ts). */
  probes: ProbeSettingsSchema.extend({
    intervalSeconds: z.number().positive().default(300),
  }).prefault({}),
  /**
   * What maintenance steps may run. The controller asks; this decides: a
   * compromised or mistaken controller can only run what the host's own
   * operator listed here (see agent/maintenance/allowlist.ts).
   */
  maintenance: z.object({
    /** Exact command lines `guest-exec` may run in guests (`/bin/sh -c COMMAND`). */
    guestCommands: z.array(z.string().min(1)).default([]),
    /** Lets `guest-exec` run any command; for labs, not for production hosts. */
    allowAnyGuestCommand: z.boolean().default(false),
    /** Absolute paths of the scripts `hook` steps may run on this host. */
    hooks: z.array(z.string().refine((p) => path.isAbsolute(p), "must be an absolute path")).default([]),
  }).prefault({}),
  log: z.object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") }).prefault({}),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;
