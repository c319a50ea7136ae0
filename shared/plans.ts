/**
 * Maintenance windows and wave plans over the API: what the CLI sends and
 * prints with --json. One definition for the controller and the CLI; fields
 * are added, never renamed. The planning itself is controller/planning/.
 */
import { z } from "zod";
import { RunSpecSchema } from "./runs.js";
import { MaintenancePreferenceSchema, WaveSpecSchema, type MaintenancePreference } from "./windows.js";

/** PUT /v1/windows/:group body: a preference without its group (the path names it). */
export const WindowsBodySchema = MaintenancePreferenceSchema.omit({ group: true });
export type WindowsBody = z.input<typeof WindowsBodySchema>;

/** GET /v1/windows entries: the preference, and the next open window from now. */
export interface WindowsRecord extends MaintenancePreference {
  nextWindowStart: string | null;
  nextWindowEnd: string | null;
  /** Machines assigned to the group. */
  machines: number;
}

/**
 * PUT /v1/machines/:name body: what the planner needs to know about a VM or a
 * hypervisor that the inventory does not say. `name` is a VM name (HOST/VM
 * when ambiguous) or, with kind "host", an enrolled host's name.
 */
export const MachineBodySchema = z.object({
  kind: z.enum(["vm", "host"]).default("vm"),
  group: z.string().min(1).max(200),
  roles: z.array(z.string().min(1).max(64)).max(16).default([]),
  /** The machine has verify checks: a bad patch is found and rolled back by the software. */
  tested: z.boolean().default(false),
  haGroups: z.array(z.string().min(1).max(200)).max(16).default([]),
  estimatedMinutes: z.number().positive().max(7 * 24 * 60).default(30),
}).strict();
export type MachineBody = z.input<typeof MachineBodySchema>;

/**
 * Where a machine's membership comes from: "cli" (PUT /v1/machines, which wins
 * over the others), "metadata" (a VM's domain <metadata>), "agent-config" (a
 * hypervisor's agent config, `maintenance.group`).
 */
export type MachineSource = "cli" | "metadata" | "agent-config";

/** GET /v1/machines entries. */
export interface MachineRecord {
  id: string;
  kind: "vm" | "host";
  name: string;
  host: string;
  group: string;
  roles: string[];
  tested: boolean;
  haGroups: string[];
  estimatedMinutes: number;
  /** Only "cli" memberships can be changed or deleted over the API. */
  source: MachineSource;
}

/**
 * POST /v1/plans body (`nightshift plan week --spec FILE`): the wave spec, the
 * run every VM slot executes (RunSpec without `vms`), and the week it starts.
 */
export const PlanRequestSchema = z.object({
  spec: WaveSpecSchema,
  run: RunSpecSchema.omit({ vms: true }),
  /** YYYY-MM-DD or an ISO time; default now. */
  start: z.string().optional(),
  dryRun: z.boolean().default(false),
}).strict();
export type PlanRequest = z.input<typeof PlanRequestSchema>;

export type PlanState = "scheduled" | "running" | "paused" | "cancelled" | "finished";
export type SlotState = "scheduled" | "running" | "done" | "failed" | "skipped" | "cancelled";

export interface SlotRecord {
  id: number;
  wave: string;
  machineId: string;
  name: string;
  kind: "vm" | "host";
  host: string;
  group: string;
  start: string;
  end: string;
  state: SlotState;
  /** The maintenance run that executed this slot's VMs. */
  runId: string | null;
  outcome: string | null;
}

export interface UnplacedRecord {
  machineId: string;
  name: string;
  group: string;
  wave: string | null;
  reason: string;
  detail: string;
}

export interface WaveRecord {
  name: string;
  start: string;
  end: string;
  state: "waiting" | "running" | "done" | "blocked";
  failureBudget: number | string | null;
  slots: number;
}

/** GET /v1/plans/current (and the answer to POST /v1/plans). */
export interface PlanRecord {
  id: string;
  name: string;
  state: PlanState;
  /** Why the plan is paused (a wave's needs-attention VMs, its failure budget), or null. */
  pausedReason: string | null;
  createdAt: string;
  weekStart: string;
  waves: WaveRecord[];
  slots: SlotRecord[];
  unplaced: UnplacedRecord[];
}

/** GET /v1/plans/current/check: every in-scope machine without exactly one slot. */
export interface PlanCheckRecord {
  machineId: string;
  name: string;
  group: string;
  problem: "no-slot" | "several-slots";
  reason: string | null;
  detail: string;
}
