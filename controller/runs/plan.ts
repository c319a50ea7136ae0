/**
 * From a run spec to its targets and plan: each VM name resolved to one host
 * from the inventory, in the order given; the first `canary` VMs marked; and,
 * for a dry run, the steps each VM would go through (each phase's describe(),
 * vm-phases.ts) and the run's rules.
 */
import { NightshiftError } from "../../shared/errors.js";
import type { HttpErrorCode } from "../../shared/error-codes.js";
import { failureBudget, type RunPlan, type RunSpec } from "../../shared/runs.js";
import type { Store } from "../store/index.js";
import { procedureSteps } from "./procedure.js";
import { VM_PROCEDURE } from "./vm-phases.js";
import { patternError } from "./output-match.js";

/** A run request the controller refuses; the API answers it with its code's status (shared/error-codes.ts). */
export class RunRequestError extends NightshiftError {
  declare readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
  }
}

export interface RunTarget {
  position: number;
  hostId: number;
  host: string;
  vm: string;
  canary: boolean;
}

export function resolveTargets(store: Store, spec: RunSpec): RunTarget[] {
  if (spec.verify.outputPattern !== undefined) {
    const error = patternError(spec.verify.outputPattern);
    if (error) throw new RunRequestError("NS_ERR_RUN_SPEC", `verify outputPattern is not a valid regular expression: ${error}`);
  }
  const seen = new Set<string>();
  const targets: RunTarget[] = [];
  for (const entry of spec.vms) {
    const slash = entry.indexOf("/");
    const hostName = slash >= 0 ? entry.slice(0, slash) : null;
    const vmName = slash >= 0 ? entry.slice(slash + 1) : entry;
    const matches = store.domains.findByName(vmName).filter((d) => hostName === null || d.host === hostName);
    if (matches.length === 0) {
      throw new RunRequestError("NS_ERR_NO_VM", `no VM named '${vmName}'${hostName ? ` on host ${hostName}` : ""} in the inventory ` +
        `(see nightshift vms)`);
    }
    if (matches.length > 1) {
      throw new RunRequestError("NS_ERR_VM_AMBIGUOUS", `'${vmName}' exists on ${matches.map((m) => m.host).join(", ")}: ` +
        `name it as HOST/VM, e.g. ${matches[0]!.host}/${vmName}`);
    }
    const match = matches[0]!;
    const key = `${match.host_id}/${match.name}`;
    if (seen.has(key)) throw new RunRequestError("NS_ERR_RUN_SPEC", `VM ${match.host}/${match.name} is listed twice`);
    seen.add(key);
    const busy = store.runs.openRunsOf(match.host_id, match.name);
    if (busy.length > 0) {
      throw new RunRequestError("NS_ERR_VM_IN_RUN", `VM ${match.host}/${match.name} is already in run ${busy[0]}: ` +
        `wait for it to finish or abort it (nightshift run abort ${busy[0]})`);
    }
    targets.push({ position: targets.length + 1, hostId: match.host_id, host: match.host, vm: match.name, canary: targets.length < spec.canary });
  }
  return targets;
}

export function buildRunPlan(name: string, spec: RunSpec, targets: RunTarget[]): RunPlan {
  // What each phase of the VM procedure says of itself for this spec: the phases a VM would enter, in order.
  const steps = procedureSteps(VM_PROCEDURE, spec);
  const budget = failureBudget(spec.maxFailures, targets.length);
  return {
    name,
    vms: targets.map((t) => ({ position: t.position, vm: t.vm, host: t.host, canary: t.canary, steps })),
    rules: [
      `at most ${spec.maxParallel} VMs at once, ${spec.maxParallelPerHost} per host`,
      spec.canary > 0 ? `the first ${Math.min(spec.canary, targets.length)} VM(s) are canaries, one at a time; a canary failure halts the run`
        : "no canaries",
      `no new VM starts once ${budget} VM(s) failed (max failures ${spec.maxFailures})`,
      "a VM that needs attention halts the run",
    ],
  };
}

export function defaultRunName(spec: RunSpec): string {
  return spec.name ?? ("exec" in spec.patch ? spec.patch.exec : spec.patch.hook).slice(0, 200);
}
