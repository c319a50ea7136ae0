/**
 * The contract of a step action: one file per action kind (or a few closely
 * related kinds) under agent/maintenance/actions/, listed once in
 * actions/index.ts. The executor (step-executor.ts) looks the handler up by
 * kind, runs it once per step id, validates its result and turns anything it
 * throws into a typed error; a handler only does its one job.
 */
import type { Logger } from "../../shared/logging.js";
import type { StepAction, StepKind, StepResultOf } from "../../shared/protocol/steps.js";
import type { AgentConfig } from "../config.js";
import type { LibvirtConnection } from "../libvirt/connection.js";

/** What a step handler reads of maintenance.*: the allowances (the step caps are the executor's). */
export type MaintenanceConfig = Omit<AgentConfig["maintenance"], "maxRunningSteps" | "maxQueuedSteps">;

export type ActionOf<K extends StepKind> = Extract<StepAction, { kind: K }>;

export interface StepContext {
  /**
   * The live libvirt connection. Asked for lazily, so steps that never touch
   * libvirt (check-allowed) still run while the agent reconnects; throws
   * NS_ERR_STEP_LIBVIRT when there is none. (A hook needs it too: it runs only
   * for a VM libvirt has.)
   */
  libvirt(): LibvirtConnection;
  config: MaintenanceConfig;
  stepId: string;
  log: Logger;
}

export interface StepHandler<K extends StepKind = StepKind> {
  kind: K;
  run(action: ActionOf<K>, ctx: StepContext): Promise<StepResultOf<K>>;
}

/** A handler of any one kind; the registry is a list of these. */
export type AnyStepHandler = { [K in StepKind]: StepHandler<K> }[StepKind];
