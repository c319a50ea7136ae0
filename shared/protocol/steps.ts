/**
 * Maintenance steps: the controller asks an agent to do one thing to one VM
 * (`step`), the agent answers once with its outcome (`step-result`).
 *
 * - `id` is chosen by the controller and is stable for one attempt of one
 *   step. The agent keeps each step's outcome (and the promise of a running
 *   one) by id for a while, so a request repeated after a reconnect or a
 *   controller restart attaches to the same execution instead of doing the
 *   work twice.
 * - `resume: true` means "only tell me about this id; do not start it". The
 *   agent answers NS_ERR_STEP_UNKNOWN when it never saw the id (it restarted),
 *   which the controller treats as "outcome unknown".
 * - Everything that runs a command (`guest-exec`, `hook`) runs only what the
 *   agent's own configuration allows (maintenance.guestCommands,
 *   maintenance.hooks); anything else is refused with NS_ERR_STEP_NOT_ALLOWED
 *   before it runs. The network can ask; the operator's config decides.
 * - A snapshot step that changes or removes a snapshot (revert, delete,
 *   discard; create of a name that exists) acts only on a snapshot the agent can tell is
 *   nightshift's (agent/maintenance/snapshot-ownership.ts), else
 *   NS_ERR_STEP_SNAPSHOT_NOT_OURS. A hook runs only for a VM defined on the
 *   host, with a VM name and run id of a strict shape
 *   (agent/maintenance/hook-args.ts), else NS_ERR_STEP_BAD_VM_NAME,
 *   NS_ERR_STEP_BAD_RUN_ID or NS_ERR_STEP_NO_VM. The controller is trusted
 *   with what it asks for, not with how far it may reach.
 */
import { z } from "zod";
import type { ErrorCode } from "../error-codes.js";

const vm = z.string().min(1).max(256);
const timeoutMs = z.number().int().positive().max(24 * 3_600_000);

export const StepActionSchema = z.discriminatedUnion("kind", [
  /** What the VM is now: state, disks (with whether each can be snapshotted), snapshots, guest agent. */
  z.object({ kind: z.literal("inspect"), vm }),
  /** Whether the agent's config allows these commands and hooks (a pre-check; nothing runs). */
  z.object({ kind: z.literal("check-allowed"), vm, guestCommands: z.array(z.string()).max(64), hooks: z.array(z.string()).max(64) }),
  z.object({ kind: z.literal("guest-ping"), vm }),
  /** Waits until the guest agent answers (after a start, reboot or revert). */
  z.object({ kind: z.literal("wait-guest-agent"), vm, timeoutMs }),
  /** `/bin/sh -c command` in the guest through qemu-ga; the command must be allowed by the agent's config. */
  z.object({ kind: z.literal("guest-exec"), vm, command: z.string().min(1).max(8192), timeoutMs }),
  z.object({ kind: z.literal("guest-users"), vm }),
  /** Seconds since the guest booted (Linux guests: /proc/uptime); null when the guest cannot say. */
  z.object({ kind: z.literal("guest-uptime"), vm }),
  /** Whether the guest says it needs a reboot (Linux: /run/reboot-required). */
  z.object({ kind: z.literal("reboot-required"), vm }),
  /**
   * Free space on each snapshotted disk's filesystem against what a snapshot of this mode needs: internal, the
   * VM's memory plus headroom; disk-only-quiesce, the overlays' growth (headroom) only. Absent: internal.
   */
  z.object({ kind: z.literal("disk-space"), vm, headroomFraction: z.number().min(0).max(10),
    mode: z.enum(["internal", "disk-only-quiesce"]).optional() }),
  z.object({ kind: z.literal("snapshot-create"), vm, name: z.string().min(1).max(200), description: z.string().max(1000),
    mode: z.enum(["internal", "disk-only-quiesce"]) }),
  z.object({ kind: z.literal("snapshot-exists"), vm, name: z.string().min(1).max(200) }),
  z.object({ kind: z.literal("snapshot-revert"), vm, name: z.string().min(1).max(200) }),
  /** Deletes a snapshot; the VM keeps its current state (a disk-only snapshot's overlays are merged into its disks). */
  z.object({ kind: z.literal("snapshot-delete"), vm, name: z.string().min(1).max(200) }),
  /**
   * Drops a disk-only snapshot's overlays and puts the disks back on the images they had when it was taken, throwing
   * away what was written since; only for a VM that is shut off, which stays off. A kind of its own, so an agent that
   * does not know it refuses it instead of merging.
   */
  z.object({ kind: z.literal("snapshot-discard"), vm, name: z.string().min(1).max(200) }),
  /** Starts the VM if it is not running. */
  z.object({ kind: z.literal("start"), vm }),
  /** Reboots through the guest agent and waits for the reboot event and the guest agent. */
  z.object({ kind: z.literal("reboot"), vm, timeoutMs }),
  /** TCP connect from the hypervisor to the VM's address (found through the guest agent). */
  z.object({ kind: z.literal("tcp-check"), vm, port: z.number().int().min(1).max(65535), timeoutMs }),
  /** The operator's script on the hypervisor, called with the VM's name; must be listed in maintenance.hooks. */
  z.object({ kind: z.literal("hook"), vm, path: z.string().min(1).max(4096), runId: z.string().max(64), timeoutMs }),
]);

export type StepAction = z.infer<typeof StepActionSchema>;
export type StepKind = StepAction["kind"];

const execOutput = {
  exitCode: z.number().int().nullable(),
  signal: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  /** True when output was cut (by qemu-ga, or by the agent at 64 KiB per stream). */
  truncated: z.boolean(),
  durationMs: z.number().nonnegative(),
};

export const DiskSnapshotabilitySchema = z.object({
  target: z.string(),
  type: z.string(),
  device: z.string(),
  driverType: z.string().nullable(),
  source: z.string().nullable(),
  /** Internal snapshots need a qcow2 file; raw files, LVM/block devices, network and passthrough disks cannot. */
  snapshotable: z.boolean(),
  reason: z.string().nullable(),
  /**
   * Whether a disk-only-quiesce snapshot (a qcow2 overlay next to the image) can take it: writable file disks, raw or
   * qcow2; block, network, volume, LUN and shareable disks cannot. Optional: older agents do not send it.
   */
  diskOnlySnapshotable: z.boolean().optional(),
  diskOnlyReason: z.string().nullable().optional(),
});

/** Result shapes by action kind; the controller validates a result against its kind's schema. */
export const StepResultSchemas = {
  inspect: z.object({
    uuid: z.string(),
    state: z.string(),
    stateReason: z.string(),
    persistent: z.boolean(),
    memoryKiB: z.number(),
    disks: z.array(DiskSnapshotabilitySchema),
    /** Devices passed through (hostdev): a snapshot cannot capture their state. */
    passthrough: z.array(z.string()),
    snapshots: z.array(z.string()),
    guestAgent: z.boolean(),
  }),
  "check-allowed": z.object({
    deniedCommands: z.array(z.string()),
    deniedHooks: z.array(z.string()),
    /** Why each was refused, as the agent's step would say it (what to change on the host); absent from older agents. */
    refusals: z.array(z.object({ item: z.string().max(8192), reason: z.string().max(2048) })).max(128).optional(),
  }),
  "guest-ping": z.object({ durationMs: z.number() }),
  "wait-guest-agent": z.object({ waitedMs: z.number() }),
  "guest-exec": z.object(execOutput),
  "guest-users": z.object({ users: z.array(z.object({ user: z.string(), loginTime: z.string() })) }),
  "guest-uptime": z.object({ uptimeSeconds: z.number().nullable(), detail: z.string() }),
  "reboot-required": z.object({ required: z.boolean(), detail: z.string() }),
  "disk-space": z.object({
    disks: z.array(z.object({ target: z.string(), source: z.string(), availableBytes: z.number(), neededBytes: z.number() })),
  }),
  "snapshot-create": z.object({ name: z.string(), created: z.boolean(), withMemory: z.boolean(), durationMs: z.number() }),
  "snapshot-exists": z.object({ exists: z.boolean() }),
  "snapshot-revert": z.object({ state: z.string(), durationMs: z.number() }),
  "snapshot-delete": z.object({ deleted: z.boolean() }),
  /** discarded: false when the VM had no snapshot of that name. */
  "snapshot-discard": z.object({ discarded: z.boolean() }),
  start: z.object({ started: z.boolean() }),
  reboot: z.object({ rebootedInMs: z.number() }),
  "tcp-check": z.object({ address: z.string(), connectMs: z.number() }),
  hook: z.object(execOutput),
} satisfies Record<StepKind, z.ZodType>;

export type StepResultOf<K extends StepKind> = z.infer<(typeof StepResultSchemas)[K]>;

/** Codes an agent answers with; the controller's run engine acts on some of them. */
export const StepErrorCodes = {
  /** resume:true for an id the agent does not know (it restarted): the outcome is unknown. */
  UNKNOWN: "NS_ERR_STEP_UNKNOWN",
  NOT_ALLOWED: "NS_ERR_STEP_NOT_ALLOWED",
  NO_VM: "NS_ERR_STEP_NO_VM",
  GUEST_AGENT: "NS_ERR_STEP_GUEST_AGENT",
  TIMEOUT: "NS_ERR_STEP_TIMEOUT",
  LIBVIRT: "NS_ERR_STEP_LIBVIRT",
  FAILED: "NS_ERR_STEP_FAILED",
  /**
   * The agent already runs maintenance.maxRunningSteps steps and has maintenance.maxQueuedSteps waiting: this one
   * was not started (nothing ran) and is not remembered; asking again with the same id later starts it.
   */
  BUSY: "NS_ERR_STEP_BUSY",
  /** A snapshot step named a snapshot that is not nightshift's (name scheme and the agent's marker): it was not touched. */
  SNAPSHOT_NOT_OURS: "NS_ERR_STEP_SNAPSHOT_NOT_OURS",
  /** A hook step's VM name is not of the shape a hook may get as its argument: nothing ran. */
  BAD_VM_NAME: "NS_ERR_STEP_BAD_VM_NAME",
  /** A hook step's run id is not a run id (shared/ids.ts): nothing ran. */
  BAD_RUN_ID: "NS_ERR_STEP_BAD_RUN_ID",
  /**
   * A disk-only snapshot step (or its pre-check) found that the agent cannot write an overlay's directory or the image
   * an overlay is merged into (a read-only mount, e.g. its unit's ProtectSystem=strict): refused before any change.
   */
  DISK_NOT_WRITABLE: "NS_ERR_STEP_DISK_NOT_WRITABLE",
  /** snapshot-discard of a VM that is not shut off: nothing was changed. */
  VM_NOT_SHUT_OFF: "NS_ERR_STEP_VM_NOT_SHUT_OFF",
  /** snapshot-discard of an internal snapshot (deleting one never changes the VM; going back to it is a revert). */
  NOT_DISK_ONLY: "NS_ERR_STEP_NOT_DISK_ONLY",
} as const satisfies Record<string, ErrorCode>;
