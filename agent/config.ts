/**
 * The agent's configuration: YAML file, NIGHTSHIFT_AGENT_* environment
 * variables, flags (shared/config.ts loads it). Every key's meaning is its
 * `.describe()`; docs/configuration.md is generated from this schema.
 */
import path from "node:path";
import { z } from "zod";
import { ProbeSettingsSchema, PROBE_SETTINGS_RENAMED } from "./probes/settings.js";
import { MAX_MAINTENANCE_MINUTES, MAX_MAINTENANCE_ROLES, type HostMaintenance } from "../shared/protocol/messages.js";
import { duration } from "../shared/duration.js";
import type { RenamedKeys } from "../shared/config-issues.js";
import type { ConfigOverride } from "../shared/config.js";

export const AGENT_ENV_PREFIX = "NIGHTSHIFT_AGENT_";

/** maintenance.maxRunningSteps and maxQueuedSteps: what a stolen controller can make the agent run and hold at once. */
export const DEFAULT_MAX_RUNNING_STEPS = 1_000;
export const DEFAULT_MAX_QUEUED_STEPS = 4_100;
const MAX_STEPS_LIMIT = 10_000;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
const absolutePath = () => z.string().refine((p) => path.isAbsolute(p), "must be an absolute path");

/** The agent config's `probes:`: the probe settings, and what only the daemon reads. */
export const AgentProbesSchema = ProbeSettingsSchema.extend({
  interval: duration().prefault("5m")
    .describe("How often the probes run while connected (and once on connect); each period is jittered by ±20 %."),
  fstab: absolutePath().optional()
    .describe("The fstab the fstab and mounts probes read instead of /etc/fstab (a host whose fstab lives elsewhere, or a test); like `check --fstab`."),
});

export const AgentConfigSchema = z.strictObject({
  controller: z.string().regex(/^wss?:\/\//, "must be a ws:// or wss:// URL")
    .describe("WebSocket URL of the controller's agent endpoint, e.g. wss://controller:8650/v1/agent."),
  tokenFile: z.string().default("/etc/nightshift/agent.token").describe("File holding this host's token (from `nightshift hosts enroll`)."),
  host: z.string().min(1).optional().meta({ unset: "the machine's hostname" }).describe("The enrolled host name."),
  libvirt: z.strictObject({
    uri: z.string().default("qemu:///system").describe("Which libvirtd."),
    socket: z.string().optional().meta({ unset: "the one the URI implies" }).describe("libvirtd's socket, instead of the one the URI implies."),
  }).prefault({}),
  stateDir: z.string().default("/var/lib/nightshift-agent").describe("The event spool and the `alive` marker: state that must survive restarts."),
  heartbeat: duration().prefault("15s").describe("WebSocket ping period until the controller's `welcome` says otherwise; a peer silent for two periods is terminated."),
  reconnect: z.strictObject({
    initialDelay: duration().prefault("500ms").describe("First delay before reconnecting to the controller (or libvirt); it doubles on each failure."),
    maxDelay: duration().prefault("30s").describe("The longest delay between reconnect attempts."),
  }).prefault({}),
  spool: z.strictObject({
    maxEvents: z.number().int().positive().default(100_000)
      .describe("Events kept on disk while the controller is unreachable; beyond this the oldest go first."),
  }).prefault({}),
  tls: z.strictObject({
    caFile: z.string().optional().describe("CA bundle to trust for a controller with a private certificate."),
  }).prefault({}),
  probes: AgentProbesSchema.prefault({}),
  netconsole: z.strictObject({
    file: absolutePath().default("/etc/modprobe.d/nightshift-netconsole.conf")
      .describe("Where the agent writes kernel netconsole's options (the controller as target, computed from the live route to it) " +
        "when the controller's welcome has a netconsole port; removed when it has none. Loaded by nightshift-emergency-report " +
        "when a boot stops in emergency or rescue mode."),
  }).prefault({}),
  /**
   * What maintenance steps may run. The controller asks; this decides: a
   * compromised or mistaken controller can only run what the host's own
   * operator listed here (see agent/maintenance/allowlist.ts).
   */
  maintenance: z.strictObject({
    guestCommands: z.array(z.string().min(1)).default([])
      .describe("Exact command lines `guest-exec` steps may run in guests (`/bin/sh -c COMMAND`)."),
    allowAnyGuestCommand: z.boolean().default(false)
      .describe("Lets `guest-exec` run any command the controller sends; for labs, not for production hosts."),
    hooks: z.array(absolutePath()).default([])
      .describe("Absolute paths of the scripts `hook` steps (a run's `patch: {hook: ...}`) may run on this host."),
    maxRunningSteps: z.number().int().positive().max(MAX_STEPS_LIMIT).default(DEFAULT_MAX_RUNNING_STEPS)
      .describe("Maintenance steps this agent runs at once; more wait in a queue, first come first served. The default is the most VMs " +
        "one run may have in flight on one host (its maxParallelPerHost), and the controller sends each VM one step at a time."),
    maxQueuedSteps: z.number().int().nonnegative().max(MAX_STEPS_LIMIT).default(DEFAULT_MAX_QUEUED_STEPS)
      .describe("Steps waiting for one of maintenance.maxRunningSteps; beyond them a new step is refused with NS_ERR_STEP_BUSY " +
        "and nothing runs. With the default, running and waiting together cover one step for each of the 5000 VMs an inventory " +
        "may list, plus retention, recovery and operator deletes."),
    group: z.string().regex(/^\S{1,128}$/, "must be a name without white space (1-128 characters)").optional()
      .meta({ unset: "not in scope (unless set with `nightshift machines set --host`)" })
      .describe("Puts this hypervisor in scope for maintenance plans in this group (sent in `hello`, source `agent-config`; " +
        "`nightshift machines set --host` wins)."),
    roles: z.array(z.string().regex(/^\S{1,64}$/, "must be a name without white space (1-64 characters)"))
      .max(MAX_MAINTENANCE_ROLES).optional().meta({ unset: "none" })
      .describe("The hypervisor's roles for wave selection, e.g. `[hypervisor]` (needs maintenance.group)."),
    slotLength: duration({ max: MAX_MAINTENANCE_MINUTES * 60_000 }).optional().meta({ unset: "the controller's 30m" })
      .describe("How long the hypervisor's maintenance slot is, a duration like 45m (needs maintenance.group)."),
  }).superRefine((m, ctx) => {
    if (m.group !== undefined) return;
    for (const key of ["roles", "slotLength"] as const) {
      if (m[key] !== undefined) ctx.addIssue({ code: "custom", path: ["group"], message: `needed when maintenance.${key} is set` });
    }
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default("info").describe("pino level; logs are JSON lines on stderr."),
  }).prefault({}),
});

/** Durations in milliseconds. */
export type AgentConfig = z.output<typeof AgentConfigSchema>;

/** Keys of earlier versions: refused with what they became. */
export const AGENT_RENAMED: RenamedKeys = {
  heartbeatSeconds: { to: "heartbeat", unit: "s" },
  inventoryIntervalSeconds: {
    removed: "the controller's agents.inventoryInterval decides how often an agent sends its inventory (its welcome says it)",
  },
  "reconnect.initialDelayMs": { to: "initialDelay", unit: "ms" },
  "reconnect.maxDelayMs": { to: "maxDelay", unit: "ms" },
  "probes.intervalSeconds": { to: "interval", unit: "s" },
  ...Object.fromEntries(Object.entries(PROBE_SETTINGS_RENAMED).map(([key, renamed]) => [`probes.${key}`, renamed])),
  "maintenance.estimatedMinutes": { to: "slotLength", unit: "m" },
};

/** The flags of `nightshift-agent run` and `check-config` that set keys. */
export const AGENT_FLAGS = [
  { flags: "--controller <url>", key: "controller", path: ["controller"], help: "controller WebSocket URL, e.g. wss://controller:8650/v1/agent" },
  { flags: "--token-file <file>", key: "tokenFile", path: ["tokenFile"], help: "file holding this host's token" },
  { flags: "--uri <uri>", key: "uri", path: ["libvirt", "uri"], help: "libvirt URI, e.g. test:///default" },
  { flags: "--state-dir <dir>", key: "stateDir", path: ["stateDir"], help: "directory for the event spool" },
] as const;

/** The overrides the flags make, by commander's option names. */
export function agentFlagOverrides(flags: Partial<Record<(typeof AGENT_FLAGS)[number]["key"], string>>): ConfigOverride[] {
  return AGENT_FLAGS.map((f) => ({ path: f.path, value: flags[f.key], flag: f.flags.split(" ")[0]! }));
}

/** The host's membership for maintenance plans as `hello` carries it; undefined without `maintenance.group`. */
export function hostMaintenance(config: Pick<AgentConfig, "maintenance">): HostMaintenance | undefined {
  const { group, roles, slotLength } = config.maintenance;
  if (group === undefined) return undefined;
  return { group, roles: [...new Set(roles ?? [])], ...(slotLength !== undefined ? { estimatedMinutes: slotLength / 60_000 } : {}) };
}
