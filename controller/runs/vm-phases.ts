/**
 * The VM procedure, listed once: its phases in the order a VM goes through them (and the dry run shows them), where
 * it starts, and where a `{ rollback }` result goes. Each phase is one file in phases/; procedure.ts runs them.
 *
 *   precheck -> [preboot] -> snapshot -> patch -> [reboot] -> verify -> succeeded
 *                                          \________\___________\---> rollback -> rolled-back
 *                                                                        \-> needs-attention
 */
import { defineProcedure } from "./procedure.js";
import type { VmPhaseContext, VmStepPhase } from "./phases/context.js";
import { precheck } from "./phases/precheck.js";
import { preboot } from "./phases/preboot.js";
import { snapshot } from "./phases/snapshot.js";
import { patch } from "./phases/patch.js";
import { reboot } from "./phases/reboot.js";
import { verify } from "./phases/verify.js";
import { rollback } from "./phases/rollback.js";

export const VM_PROCEDURE = defineProcedure<VmStepPhase, VmPhaseContext>({
  name: "VM procedure",
  phases: [precheck, preboot, snapshot, patch, reboot, verify, rollback],
  start: "precheck",
  rollback: "rollback",
  // vm-procedure.ts sets the expiry when the VM ends succeeded or rolled back.
  describeEnd: (spec) => [`on success: keep the snapshot ${spec.keepSnapshots}`],
});
