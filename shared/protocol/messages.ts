/**
 * The agent <-> controller protocol: JSON text frames over one WebSocket at
 * /v1/agent. Every message carries the protocol version `v` and a `type`;
 * the receiver validates it against these schemas before acting on it.
 *
 * Authentication happens before any message: the agent sends its host token
 * as `Authorization: Bearer <token>` on the upgrade request. The controller
 * answers a bad token with HTTP 401 and a second live agent for the same host
 * with HTTP 409, both with a JSON body {"error": {"code", "message"}}.
 *
 * Flow: agent `hello` -> controller `welcome`; then agent `inventory` (on
 * connect and every inventoryIntervalSeconds, jittered), `events` batches as
 * libvirt raises them, `events-lost` when its spool overflowed, `agent-down`
 * after a start that followed a time the agent was not running; the controller
 * answers `events` with `ack` once they are stored, and anything it cannot
 * accept with `error`. The agent also sends `health` (its probes' findings and
 * facts) on connect and on its probe interval, and `libvirt-state` (connected,
 * or unreachable and why) at the start of each session and on every change:
 * the agent connects to the controller whether or not libvirt answers.
 */
import { z } from "zod";
import { HealthReportEnvelopeSchema, HealthReportSchema } from "./findings.js";
import { StepActionSchema } from "./steps.js";

export const PROTOCOL_VERSION = 1;
/** Frames above this are refused by the WebSocket layer (close code 1009). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/**
 * Before hello only a hello may come; the largest valid one (every string at its limit, every
 * character escaped as \u00XX) is about 12.5 KiB. A bigger frame is refused unparsed (close 1009).
 */
export const MAX_HELLO_BYTES = 16 * 1024;
/** Messages nest about 6 levels deep; text nested deeper than this is refused before JSON.parse (json-shape.ts). */
export const MAX_JSON_DEPTH = 32;
/** The longest arrays a message may hold have 10,000 entries (findings, mounts); an array or object with more is refused before JSON.parse. */
export const MAX_JSON_ITEMS = 20_000;
/**
 * Entries (array elements and object members) of all arrays and objects of one frame together. The densest
 * frame an agent can honestly send within MAX_MESSAGE_BYTES is an inventory of 5,000 VMs each with 16 roles
 * and 64 HA groups of one character, the rest of the 4 MiB in minimal disks: about 586,000 entries
 * (test/unit/shared/protocol/honest-frames.test.ts builds it). Two bytes make an entry (`0,`), so without
 * this a 4 MiB frame could hold two million of them in containers each under MAX_JSON_ITEMS.
 */
export const MAX_JSON_ENTRIES = 600_000;
export const MAX_DOMAINS_PER_INVENTORY = 5_000;
export const MAX_EVENTS_PER_BATCH = 1_000;
/**
 * Disks one inventory entry carries. libvirt has no such limit (a domain with
 * 300 disks on one virtio-scsi controller defines fine); the agent sends the
 * first MAX_DISKS_PER_DOMAIN and counts the rest in `disksTruncated`.
 */
export const MAX_DISKS_PER_DOMAIN = 256;

const version = z.literal(PROTOCOL_VERSION);
/**
 * Host and VM names. The qemu driver cannot define a longer VM name (its
 * config file, NAME.xml.new, must fit in a 255-byte file name: 247 bytes);
 * the test driver can, and such a VM is refused on its own (see items.ts).
 */
const name = z.string().min(1).max(256);
const isoTime = z.iso.datetime({ offset: true });
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "not a UUID");

export const DomainDiskSchema = z.object({
  target: z.string().max(64),
  bus: z.string().max(64).nullable(),
  device: z.string().max(64),
  type: z.string().max(64),
  source: z.string().max(4096).nullable(),
  driverType: z.string().max(64).nullable(),
  readonly: z.boolean(),
  shareable: z.boolean(),
});

/** Limits of a maintenance membership (the controller's PUT /v1/machines has the same). */
export const MAX_MAINTENANCE_ROLES = 16;
export const MAX_MAINTENANCE_HA_GROUPS = 64;
export const MAX_MAINTENANCE_MINUTES = 7 * 24 * 60;

/**
 * A hypervisor's own membership for maintenance planning, from the agent's
 * config (`maintenance.group`, `.roles`, `.estimatedMinutes`): whose windows
 * apply, what waves select it by, its slot length (default: the controller's).
 */
export const HostMaintenanceSchema = z.object({
  group: z.string().min(1).max(128),
  roles: z.array(z.string().min(1).max(64)).max(MAX_MAINTENANCE_ROLES),
  estimatedMinutes: z.number().positive().max(MAX_MAINTENANCE_MINUTES).optional(),
});

/**
 * A VM's membership for maintenance planning, from nightshift's domain
 * <metadata> (agent/probes/domain-metadata.ts): as a host's, plus `tested` (it
 * has verify checks) and its HA groups (the <ha-group> marks; absent: none).
 */
export const DomainMaintenanceSchema = HostMaintenanceSchema.extend({
  tested: z.boolean(),
  haGroups: z.array(z.string().min(1).max(128)).max(MAX_MAINTENANCE_HA_GROUPS).optional(),
});

export const DomainSchema = z.object({
  name,
  uuid,
  id: z.number().int().nullable(),
  state: z.string().max(32),
  stateReason: z.string().max(64),
  autostart: z.boolean(),
  persistent: z.boolean(),
  vcpus: z.number().int().nonnegative(),
  memoryKiB: z.number().int().nonnegative(),
  maxMemoryKiB: z.number().int().nonnegative(),
  /** Each with its own target: libvirt refuses a domain with two disks on one target, and the controller keys disks by it. */
  disks: z.array(DomainDiskSchema).max(MAX_DISKS_PER_DOMAIN).superRefine((disks, ctx) => {
    const first = new Map<string, number>();
    disks.forEach((disk, i) => {
      const earlier = first.get(disk.target);
      if (earlier === undefined) first.set(disk.target, i);
      else ctx.addIssue({ code: "custom", path: [i, "target"], message: `target '${disk.target.slice(0, 64)}' is also disks[${earlier}]'s` });
    });
  }),
  /** Disks left out of `disks` (beyond MAX_DISKS_PER_DOMAIN); absent when none were. */
  disksTruncated: z.number().int().positive().optional(),
  /** Present when the domain's <metadata> puts it in scope for maintenance plans. */
  maintenance: DomainMaintenanceSchema.optional(),
});

/** A libvirt domain event as the agent saw it; `id` is the agent's, unique for its host, and makes redelivery harmless. */
export const DomainEventSchema = z.object({
  id: z.string().min(8).max(64),
  time: isoTime,
  domain: name,
  uuid,
  kind: z.enum(["lifecycle", "reboot", "agent-lifecycle"]),
  event: z.string().max(32).optional(),
  detail: z.string().max(64).optional(),
  state: z.string().max(32).optional(),
  reason: z.string().max(64).optional(),
});

export const HelloSchema = z.object({
  v: version,
  type: z.literal("hello"),
  /** The enrolled host name; must match the token's host. */
  host: name,
  hostname: z.string().max(256),
  agentVersion: z.string().max(64),
  libvirtVersion: z.string().max(64),
  libvirtUri: z.string().max(256),
  /** Present when the agent's config puts this hypervisor in scope for maintenance plans. */
  maintenance: HostMaintenanceSchema.optional(),
});

export const InventorySchema = z.object({
  v: version,
  type: z.literal("inventory"),
  collectedAt: isoTime,
  domains: z.array(DomainSchema).max(MAX_DOMAINS_PER_INVENTORY),
});

export const EventsSchema = z.object({
  v: version,
  type: z.literal("events"),
  events: z.array(DomainEventSchema).min(1).max(MAX_EVENTS_PER_BATCH),
});

export const EventsLostSchema = z.object({
  v: version,
  type: z.literal("events-lost"),
  /** Unique like an event id: a redelivered report is stored once. */
  id: z.string().min(8).max(64),
  count: z.number().int().positive(),
  firstLostAt: isoTime,
  lastLostAt: isoTime,
});

/**
 * The agent itself was not running from `downAt` (its last sign of life) to
 * `upAt` (its start): libvirt does not replay events, so what the VMs did in
 * between is unknown. Acked by id like events; a redelivery is stored once.
 */
export const AgentDownSchema = z.object({
  v: version,
  type: z.literal("agent-down"),
  id: z.string().min(8).max(64),
  downAt: isoTime,
  upAt: isoTime,
  /** The previous agent stopped cleanly (SIGTERM); false: it was killed or crashed. */
  clean: z.boolean(),
});

/** The libvirt states an agent reports. */
export const LIBVIRT_STATES = ["connected", "unreachable"] as const;

/**
 * Whether the agent is connected to libvirtd, sent at the start of each
 * session (once known: the first connect attempt may still be under way) and
 * on every change, a new reason while unreachable included. `since` is when
 * the state began (a new reason keeps it). A controller that does not know
 * the type answers `error` and carries on.
 */
export const LibvirtStateSchema = z.object({
  v: version,
  type: z.literal("libvirt-state"),
  state: z.enum(LIBVIRT_STATES),
  since: isoTime,
  /** unreachable: the connect error's code, e.g. NS_ERR_LIBVIRT_SOCKET_MISSING. */
  code: z.string().max(64).optional(),
  /** unreachable: why, short, e.g. "socket /var/run/libvirt/libvirt-sock missing (NS_ERR_LIBVIRT_SOCKET_MISSING)". */
  detail: z.string().max(1024).optional(),
  /** connected: libvirt's version (hello says "unknown" until it is known). */
  libvirtVersion: z.string().max(64).optional(),
});

/** The latest run of the agent's probes; replaces the previous one for this host. */
export const HealthSchema = z.object({
  v: version,
  type: z.literal("health"),
  report: HealthReportSchema,
});

/**
 * What an agent takes from a welcome, in seconds. A value outside is used as the nearest bound (logged
 * NS_ERR_CONTROLLER_WELCOME_BOUNDS): a stolen controller must not make an agent send inventories in a loop
 * (an interval of 1e-9 s, or 1e12 s, which overflows setTimeout to 1 ms), nor switch its dead-controller check
 * off (a heartbeat of 1e12 s) or trip it at once (1e-9 s). The controller's agents.inventoryInterval and
 * agents.heartbeat are held to the same bounds.
 */
export const WELCOME_LIMITS = {
  inventoryIntervalSeconds: { min: 1, max: 86_400 },
  heartbeatSeconds: { min: 1, max: 60 },
} as const;

export const WelcomeSchema = z.object({
  v: version,
  type: z.literal("welcome"),
  sessionId: z.string(),
  host: name,
  inventoryIntervalSeconds: z.number().positive(),
  heartbeatSeconds: z.number().positive(),
  /** The controller's netconsole.listen UDP port, when it listens: the agent points the host's netconsole at it. */
  netconsolePort: z.number().int().min(1).max(65_535).optional(),
});

export const AckSchema = z.object({
  v: version,
  type: z.literal("ack"),
  ids: z.array(z.string()).max(MAX_EVENTS_PER_BATCH + 1),
});

export const ErrorMessageSchema = z.object({
  v: version,
  type: z.literal("error"),
  code: z.string(),
  message: z.string(),
});

/** Controller -> agent: do one maintenance step (see steps.ts for ids, resume and what is allowed). */
export const StepRequestSchema = z.object({
  v: version,
  type: z.literal("step"),
  id: z.string().min(1).max(200),
  resume: z.boolean(),
  action: StepActionSchema,
});

/** Agent -> controller: the one answer to a step; `result` is checked against the action's schema by the controller. */
export const StepResultMessageSchema = z.object({
  v: version,
  type: z.literal("step-result"),
  id: z.string().min(1).max(200),
  outcome: z.discriminatedUnion("ok", [
    z.object({ ok: z.literal(true), result: z.record(z.string(), z.unknown()) }),
    z.object({ ok: z.literal(false), error: z.object({ code: z.string().max(64), message: z.string().max(8192) }) }),
  ]),
});

export const AgentMessageSchema = z.discriminatedUnion("type", [HelloSchema, InventorySchema, EventsSchema, EventsLostSchema, AgentDownSchema,
  HealthSchema, StepResultMessageSchema, LibvirtStateSchema]);

/*
 * What a receiver validates a frame against: the list messages as envelopes
 * whose items (an inventory's domains, a batch's events, a health report's
 * findings, mounts, probe runs, systemd fact) are left to be checked one by
 * one (items.ts), so that one bad item is refused alone and never takes the
 * rest of its message with it. Senders are held to AgentMessageSchema.
 */
export const InventoryEnvelopeSchema = InventorySchema.extend({ domains: z.array(z.unknown()).max(MAX_DOMAINS_PER_INVENTORY) });
export const EventsEnvelopeSchema = EventsSchema.extend({ events: z.array(z.unknown()).min(1).max(MAX_EVENTS_PER_BATCH) });
export const HealthEnvelopeSchema = HealthSchema.extend({ report: HealthReportEnvelopeSchema });
export const AgentFrameSchema = z.discriminatedUnion("type", [HelloSchema, InventoryEnvelopeSchema, EventsEnvelopeSchema, EventsLostSchema,
  AgentDownSchema, HealthEnvelopeSchema, StepResultMessageSchema, LibvirtStateSchema]);
export const ControllerMessageSchema = z.discriminatedUnion("type", [WelcomeSchema, AckSchema, ErrorMessageSchema, StepRequestSchema]);

export type DomainDisk = z.infer<typeof DomainDiskSchema>;
export type Domain = z.infer<typeof DomainSchema>;
export type HostMaintenance = z.infer<typeof HostMaintenanceSchema>;
export type DomainMaintenance = z.infer<typeof DomainMaintenanceSchema>;
export type DomainEventMessage = z.infer<typeof DomainEventSchema>;
export type Hello = z.infer<typeof HelloSchema>;
export type Inventory = z.infer<typeof InventorySchema>;
export type Events = z.infer<typeof EventsSchema>;
export type EventsLost = z.infer<typeof EventsLostSchema>;
export type AgentDown = z.infer<typeof AgentDownSchema>;
export type Health = z.infer<typeof HealthSchema>;
export type LibvirtState = z.infer<typeof LibvirtStateSchema>;
export type Welcome = z.infer<typeof WelcomeSchema>;
export type Ack = z.infer<typeof AckSchema>;
export type ErrorMessage = z.infer<typeof ErrorMessageSchema>;
export type StepRequest = z.infer<typeof StepRequestSchema>;
export type StepResultMessage = z.infer<typeof StepResultMessageSchema>;
export type AgentMessage = z.infer<typeof AgentMessageSchema>;
export type InventoryEnvelope = z.infer<typeof InventoryEnvelopeSchema>;
export type EventsEnvelope = z.infer<typeof EventsEnvelopeSchema>;
export type HealthEnvelope = z.infer<typeof HealthEnvelopeSchema>;
/** An agent frame as received: list items not checked yet. */
export type AgentFrame = z.infer<typeof AgentFrameSchema>;
export type ControllerMessage = z.infer<typeof ControllerMessageSchema>;
