/** Steps run through a StepExecutor as the agent daemon runs them, for tests against real libvirt guests. */
import { randomUUID } from "node:crypto";
import type { StepExecutor } from "../../agent/maintenance/step-executor.js";
import type { StepAction, StepKind, StepResultOf } from "../../shared/protocol/steps.js";

/**
 * `ok` runs a step that must succeed and returns its result; `fails` runs one
 * that must fail and returns its error. With `timings`, the duration (ms) of
 * each step run by `ok` is added to the list of its kind.
 */
export function stepRunner(executor: () => StepExecutor, options: { timings?: Record<string, number[]> } = {}) {
  const run = (action: StepAction) => executor().handle({ id: randomUUID(), resume: false, action });

  async function ok<K extends StepKind>(action: Extract<StepAction, { kind: K }>): Promise<StepResultOf<K>> {
    const started = performance.now();
    const outcome = await run(action);
    if (options.timings) (options.timings[action.kind] ??= []).push(Math.round(performance.now() - started));
    if (!outcome.ok) throw new Error(`step ${action.kind} failed: ${outcome.error.code}: ${outcome.error.message}`);
    return outcome.result as StepResultOf<K>;
  }

  async function fails(action: StepAction): Promise<{ code: string; message: string }> {
    const outcome = await run(action);
    if (outcome.ok) throw new Error(`step ${action.kind} succeeded: ${JSON.stringify(outcome.result)}`);
    return outcome.error;
  }

  return { ok, fails };
}
