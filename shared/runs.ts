/**
 * Maintenance runs: what an operator asks for (RunSpec, from CLI flags or a
 * runbook YAML file) and what the API returns about runs, per-VM outcomes,
 * evidence and snapshots. One definition for the controller and the CLI.
 */
import { z } from "zod";
import { durationText } from "./duration.js";

/** Durations with their unit ("30m", "3d"), kept as written; a bare number is refused. */
const duration = (what: string) => durationText(what);

/** A failure budget: a count ("2") or a percentage of the run's VMs ("10%"). */
export const FailureBudgetSchema = z.union([
  z.number().int().positive(),
  z.string().regex(/^[1-9]\d*$|^(\d+(\.\d+)?)%$/, "expected a count of at least 1 like 2, or a percentage like 10%")
    .refine((t) => !t.endsWith("%") || (Number(t.slice(0, -1)) > 0 && Number(t.slice(0, -1)) <= 100),
      "a percentage must be above 0% and at most 100%"),
]);

/**
 * The number of failed VMs after which no new VM starts: a count as given, a
 * percentage of the run's VMs rounded up, never below 1.
 */
export function failureBudget(budget: number | string, vmCount: number): number {
  if (typeof budget === "number") return budget;
  if (budget.endsWith("%")) return Math.max(1, Math.ceil((Number(budget.slice(0, -1)) / 100) * vmCount));
  return Math.max(1, Number(budget));
}

export const VerifySpecSchema = z.object({
  /** A command run in the guest (/bin/sh -c); it must exit 0. */
  exec: z.string().min(1).optional(),
  /**
   * The exec's whole output (trailing newlines ignored) must equal this.
   * `{vm}` stands for the VM's name.
   */
  output: z.string().optional(),
  /**
   * Some line of the exec's output must match this regular expression in full
   * (it is anchored with ^...$ on each line, never a substring match). `{vm}`
   * stands for the VM's name, regex-escaped.
   */
  outputPattern: z.string().optional(),
  /** TCP ports that must accept a connection on the VM's address, from its hypervisor. */
  tcp: z.array(z.number().int().min(1).max(65535)).default([]),
  /** URLs the controller fetches; each must answer with a 2xx status (or httpStatus). `{vm}` stands for the VM's name. */
  http: z.array(z.string().url()).default([]),
  httpStatus: z.number().int().min(100).max(599).optional(),
  // Strict: a misspelt check (tpc:) must be an error, not a check silently left out.
}).strict().refine((v) => v.exec !== undefined || (v.output === undefined && v.outputPattern === undefined),
  { message: "verify output and outputPattern need verify exec" });

export const RunSpecSchema = z.object({
  /** A label for listings; defaults to the patch. */
  name: z.string().max(200).optional(),
  /** VM names, or HOST/VM where a name exists on more than one host. */
  vms: z.array(z.string().min(1).max(512)).min(1).max(10_000),
  patch: z.union([
    z.object({ exec: z.string().min(1) }).strict(),
    z.object({ hook: z.string().regex(/^\//, "a patch hook is an absolute path on the hypervisor") }).strict(),
  ]),
  patchTimeout: duration("patchTimeout").default("30m"),
  reboot: z.enum(["never", "always", "if-required"]).default("never"),
  verify: VerifySpecSchema.prefault({}),
  /** VMs in flight at once, across the run and on one host. */
  maxParallel: z.number().int().min(1).max(1000).default(4),
  maxParallelPerHost: z.number().int().min(1).max(1000).default(2),
  /** The first N VMs go one at a time; any canary failure halts the run. */
  canary: z.number().int().min(0).default(1),
  /** Once this many VMs failed (rolled back or need attention), no new VM starts. */
  maxFailures: FailureBudgetSchema.default(1),
  keepSnapshots: duration("keepSnapshots").default("3d"),
  /** Reboot (and verify) a VM up longer than this before patching it. */
  rebootIfOlderThan: duration("rebootIfOlderThan").optional(),
  /** Logged-in users in the guest: note them in the evidence, or skip the VM. */
  loggedInUsers: z.enum(["warn", "skip"]).default("warn"),
  snapshotMode: z.enum(["internal", "disk-only-quiesce"]).default("internal"),
  /** Patch VMs whose disks cannot be snapshotted anyway (a failure then needs attention, no rollback). */
  allowNoRollback: z.boolean().default(false),
  /** Free space the snapshot needs besides guest memory, as a fraction of the disks' size. */
  snapshotHeadroom: z.number().min(0).max(10).default(0.1),
}).strict();

export type RunSpecInput = z.input<typeof RunSpecSchema>;
export type RunSpec = z.output<typeof RunSpecSchema>;

export const VM_OUTCOMES = ["succeeded", "rolled-back", "skipped", "needs-attention", "aborted"] as const;
export type VmOutcome = (typeof VM_OUTCOMES)[number];

export const VM_PHASES = ["pending", "precheck", "preboot", "snapshot", "patch", "reboot", "verify", "rollback", "done"] as const;
export type VmPhase = (typeof VM_PHASES)[number];

export type RunState = "running" | "stopping" | "finished";

/** POST /v1/runs body. */
export interface StartRunRequest {
  spec: RunSpecInput;
  dryRun?: boolean;
  /** Start even when a target host has no connected agent (its steps wait for it); refused otherwise (NS_ERR_HOST_DISCONNECTED). */
  waitForAgent?: boolean;
}

/** GET /v1/runs entries. */
export interface RunRecord {
  id: string;
  name: string;
  state: RunState;
  /** Why no new VM starts (abort, canary failure, budget spent, a VM needs attention); null while all is well. */
  haltReason: string | null;
  createdAt: string;
  finishedAt: string | null;
  vmCount: number;
  /** VMs per outcome, and "in-flight" / "pending" for the rest. */
  counts: Record<VmOutcome | "in-flight" | "pending", number>;
}

export interface RunVmRecord {
  vm: string;
  host: string;
  position: number;
  canary: boolean;
  phase: VmPhase;
  outcome: VmOutcome | null;
  reason: string | null;
  snapshot: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** GET /v1/runs/:id */
export interface RunDetail extends RunRecord {
  spec: RunSpec;
  vms: RunVmRecord[];
}

export type EvidenceResult = "PASS" | "FAIL" | "INFO" | "WARN";

/** GET /v1/runs/:id/evidence: one line per step or check. */
export interface EvidenceRecord {
  seq: number;
  time: string;
  vm: string | null;
  host: string | null;
  step: string;
  check: string;
  /** The exact command, request or libvirt operation. */
  command: string;
  result: EvidenceResult;
  /** The first KiBs of output, or the error. */
  output: string;
  durationMs: number;
}

/** POST /v1/runs with dryRun: what would happen, in order. */
export interface RunPlan {
  name: string;
  vms: { position: number; vm: string; host: string; canary: boolean; steps: string[] }[];
  rules: string[];
}

/** GET /v1/snapshots: snapshots nightshift took, kept until expiresAt. */
export interface SnapshotRecord {
  runId: string;
  vm: string;
  host: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
  deletedAt: string | null;
  /** Why it was deleted (retention) or why deleting it failed. */
  note: string | null;
}

/** DELETE /v1/snapshots/HOST/VM/NAME body, all optional; a disk-only snapshot needs `mode`. */
export interface SnapshotDeleteBody {
  /** merge: the overlays into the disks, the VM keeps its current state; discard: back to the snapshot, the VM shut off. */
  mode?: "merge" | "discard";
  reason?: string;
  /** Who asks (the CLI sends user@host); recorded next to the API token's name. */
  by?: string;
}

/** DELETE /v1/snapshots/HOST/VM/NAME: the snapshot, now recorded as deleted, and what became of it. */
export interface SnapshotDeleteRecord extends SnapshotRecord {
  /** deleted (internal), merged or discarded (disk-only), gone (libvirt had it no longer). */
  result: "deleted" | "merged" | "discarded" | "gone";
}

/** POST /v1/vms/ID/resolve body. */
export interface VmResolveBody {
  reason: string;
  by?: string;
}

/** POST /v1/vms/ID/resolve: the VM no longer needs attention. */
export interface VmResolutionRecord {
  host: string;
  vm: string;
  /** The runs whose needs-attention this cleared (their outcomes stay as they were). */
  runs: string[];
  reason: string;
  /** Who resolved it: the client's word and the API token's name. */
  by: string;
  resolvedAt: string;
  /** The VM's snapshots nightshift still keeps (a needs-attention VM's do not expire): delete them once done with them. */
  snapshots: string[];
}

/** Snapshot names nightshift takes: nightshift-<run>-<vm>, within libvirt's name rules. */
export function snapshotName(runId: string, vm: string): string {
  return `nightshift-${runId}-${vm.replace(/[^A-Za-z0-9._-]/g, "_")}`.slice(0, 200);
}
