/** The agent's configuration: YAML file, NIGHTSHIFT_AGENT_* environment variables, flags. */
import path from "node:path";
import { z } from "zod";
import { ProbeSettingsSchema } from "./probes/settings.js";
import { MAX_MAINTENANCE_MINUTES, MAX_MAINTENANCE_ROLES, type HostMaintenance } from "../shared/protocol/messages.js";

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
    /**
     * The fstab the fstab and mounts probes read, instead of /etc/fstab: a host
     * whose fstab lives elsewhere, or a test. Like `check --fstab`.
     */
    fstab: z.string().refine((p) => path.isAbsolute(p), "must be an absolute path").optional(),
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
    /**
     * This hypervisor's own membership for maintenance plans, sent in `hello`:
     * the group whose windows apply, the roles waves select it by, its slot
     * length (default: the controller's 30). Unset group: not in scope (unless
     * set with `nightshift machines set --host`).
     */
    group: z.string().regex(/^\S{1,128}$/, "must be a name without white space (1-128 characters)").optional(),
    roles: z.array(z.string().regex(/^\S{1,64}$/, "must be a name without white space (1-64 characters)"))
      .max(MAX_MAINTENANCE_ROLES).optional(),
    estimatedMinutes: z.number().positive().max(MAX_MAINTENANCE_MINUTES).optional(),
  }).superRefine((m, ctx) => {
    if (m.group !== undefined) return;
    for (const key of ["roles", "estimatedMinutes"] as const) {
      if (m[key] !== undefined) ctx.addIssue({ code: "custom", path: ["group"], message: `needed when maintenance.${key} is set` });
    }
  }).prefault({}),
  log: z.object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") }).prefault({}),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** The host's membership for maintenance plans as `hello` carries it; undefined without `maintenance.group`. */
export function hostMaintenance(config: Pick<AgentConfig, "maintenance">): HostMaintenance | undefined {
  const { group, roles, estimatedMinutes } = config.maintenance;
  if (group === undefined) return undefined;
  return { group, roles: [...new Set(roles ?? [])], ...(estimatedMinutes !== undefined ? { estimatedMinutes } : {}) };
}
