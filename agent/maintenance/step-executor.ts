/**
 * Runs maintenance steps, each at most once per id, and remembers outcomes.
 *
 * - The controller may ask for the same step again (after a reconnect, or after
 *   it restarted): a known id attaches to the running execution or gets the
 *   kept outcome; the work is never done twice. Finished outcomes are kept for
 *   an hour, and at most `maxEntries` of them (oldest dropped first).
 * - `resume: true` for an unknown id runs nothing and answers
 *   NS_ERR_STEP_UNKNOWN: this agent restarted (or forgot) and cannot say what
 *   happened; the controller treats the outcome as unknown.
 * - Every result is checked against its kind's schema before it is answered:
 *   a handler bug becomes NS_ERR_STEP_FAILED, never a frame the controller
 *   rejects (which would leave the step without an answer).
 * - `handle` never rejects: whatever a handler throws becomes a typed error.
 * - At most `maxRunning` steps run at once; more wait in a queue (first come,
 *   first served), at most `maxQueued` of them. A step beyond both is refused
 *   with NS_ERR_STEP_BUSY, not remembered, and nothing runs: a controller can
 *   be stolen, and ten thousand polling steps at once would eat the host. An
 *   honest controller sends each VM one step at a time.
 */
import type { z } from "zod";
import type { Logger } from "../../shared/logging.js";
import type { StepRequest, StepResultMessage } from "../../shared/protocol/messages.js";
import { StepErrorCodes, StepResultSchemas, type StepAction, type StepKind, type StepResultOf } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { StepError, errorPayload, toStepError } from "./errors.js";
import type { ActionOf, AnyStepHandler, MaintenanceConfig, StepContext, StepHandler } from "./types.js";
import { DEFAULT_MAX_QUEUED_STEPS, DEFAULT_MAX_RUNNING_STEPS } from "../config.js";

export type StepOutcome = StepResultMessage["outcome"];

export interface StepExecutorOptions {
  /** The registry (actions/index.ts), or fakes in tests. */
  handlers: readonly AnyStepHandler[];
  /** The current libvirt connection, or null while the agent reconnects. */
  libvirt(): LibvirtConnection | null;
  /** Named in the error a step gets while libvirt is down. */
  libvirtUri: string;
  config: MaintenanceConfig;
  logger: Logger;
  /** How long a finished outcome is kept; default one hour. */
  retentionMs?: number;
  /** Outcomes (and running and waiting steps) kept at most; default 10,000, or running and waiting together if more. */
  maxEntries?: number;
  /** Steps running at once (maintenance.maxRunningSteps); default DEFAULT_MAX_RUNNING_STEPS. */
  maxRunning?: number;
  /** Steps waiting for a running slot (maintenance.maxQueuedSteps); default DEFAULT_MAX_QUEUED_STEPS. */
  maxQueued?: number;
  now?: () => number;
}

interface Entry {
  kind: StepKind;
  vm: string;
  promise: Promise<StepOutcome>;
  /** When it finished (options.now() time), null while it runs or waits. */
  finishedAt: number | null;
}

/** A busy refusal is logged at most this often, with how many there were since. */
const BUSY_LOG_INTERVAL_MS = 10_000;

export class StepExecutor {
  private readonly entries = new Map<string, Entry>();
  private readonly handlers = new Map<StepKind, AnyStepHandler>();
  private readonly retentionMs: number;
  private readonly maxEntries: number;
  private readonly maxRunning: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  /** Starts of the steps waiting for a running slot, oldest first. */
  private readonly queue: (() => void)[] = [];
  private runningCount = 0;
  private busyRefused = 0;
  private busyLoggedAt = -Infinity;

  constructor(private readonly options: StepExecutorOptions) {
    for (const handler of options.handlers) {
      if (this.handlers.has(handler.kind)) throw new Error(`two step handlers for kind ${handler.kind}`);
      this.handlers.set(handler.kind, handler);
    }
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.maxRunning = options.maxRunning ?? DEFAULT_MAX_RUNNING_STEPS;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED_STEPS;
    this.maxEntries = options.maxEntries ?? Math.max(10_000, this.maxRunning + this.maxQueued);
    this.now = options.now ?? Date.now;
  }

  /** Steps known now (running and kept). */
  get size(): number {
    return this.entries.size;
  }

  /** Steps running now. */
  get running(): number {
    return this.runningCount;
  }

  /** Steps waiting for a running slot. */
  get queued(): number {
    return this.queue.length;
  }

  handle(request: Pick<StepRequest, "id" | "resume" | "action">): Promise<StepOutcome> {
    const { id, action } = request;
    const log = this.options.logger;
    this.prune();
    const known = this.entries.get(id);
    if (known) {
      if (known.kind !== action.kind || known.vm !== action.vm) {
        log.warn({ stepId: id, kind: action.kind, vm: action.vm, knownKind: known.kind, knownVm: known.vm },
          "a step id was reused for another action; answering with the first one's outcome");
      }
      log.info({ stepId: id, kind: known.kind, vm: known.vm, running: known.finishedAt === null, resume: request.resume },
        "step asked for again; answering from the execution already known");
      return known.promise;
    }
    if (request.resume) {
      log.info({ stepId: id, kind: action.kind, vm: action.vm }, "resume of a step this agent does not know");
      return Promise.resolve(failure(new StepError(StepErrorCodes.UNKNOWN, `step ${id} (${action.kind} on VM ${action.vm}) is not known ` +
        "to this agent: it restarted, or the outcome is older than an hour; its outcome is unknown, so check the VM before going on")));
    }
    if (this.runningCount + this.queue.length >= this.maxRunning + this.maxQueued || !this.makeRoom()) return Promise.resolve(this.busy(id, action));
    let settle!: (outcome: StepOutcome) => void;
    const entry: Entry = { kind: action.kind, vm: action.vm, promise: new Promise((resolve) => { settle = resolve; }), finishedAt: null };
    const start = () => {
      this.runningCount++;
      // execute() never rejects.
      void this.execute(id, action).then((outcome) => {
        this.runningCount--;
        entry.finishedAt = this.now();
        settle(outcome);
        this.queue.shift()?.();
      });
    };
    this.entries.set(id, entry);
    if (this.runningCount < this.maxRunning) start();
    else this.queue.push(start);
    return entry.promise;
  }

  /** The refusal of a step beyond the caps; logged at most every BUSY_LOG_INTERVAL_MS with the count since. */
  private busy(id: string, action: StepAction): StepOutcome {
    this.busyRefused++;
    const now = this.now();
    if (now - this.busyLoggedAt >= BUSY_LOG_INTERVAL_MS) {
      this.options.logger.warn({ code: StepErrorCodes.BUSY, stepId: id, kind: action.kind, vm: action.vm, refused: this.busyRefused,
        running: this.runningCount, queued: this.queue.length, maxRunning: this.maxRunning, maxQueued: this.maxQueued },
      "steps refused: this agent runs and queues as many as maintenance.maxRunningSteps and maxQueuedSteps allow; is the controller sending more than it should?");
      this.busyLoggedAt = now;
      this.busyRefused = 0;
    }
    return failure(new StepError(StepErrorCodes.BUSY, `step ${id} (${action.kind} on VM ${action.vm}) was not started: this agent already ` +
      `runs ${this.runningCount} steps and has ${this.queue.length} waiting (maintenance.maxRunningSteps ${this.maxRunning}, ` +
      `maintenance.maxQueuedSteps ${this.maxQueued}); nothing was run, ask again once some have finished`));
  }

  private async execute(id: string, action: StepAction): Promise<StepOutcome> {
    const log = this.options.logger;
    const started = performance.now();
    log.info({ stepId: id, kind: action.kind, vm: action.vm }, "step started");
    let outcome: StepOutcome;
    try {
      const result = await this.runHandler(id, action);
      outcome = { ok: true, result };
    } catch (err) {
      outcome = failure(toStepError(err, action.vm));
    }
    const durationMs = Math.round(performance.now() - started);
    if (outcome.ok) {
      log.info({ stepId: id, kind: action.kind, vm: action.vm, durationMs, ok: true }, "step finished");
    } else {
      log.warn({ stepId: id, kind: action.kind, vm: action.vm, durationMs, ok: false, code: outcome.error.code }, `step failed: ${outcome.error.message}`);
    }
    return outcome;
  }

  private async runHandler(id: string, action: StepAction): Promise<Record<string, unknown>> {
    const handler = this.handlers.get(action.kind) as StepHandler<StepKind> | undefined;
    if (!handler) throw new StepError(StepErrorCodes.FAILED, `this agent does not implement step kind ${action.kind}; upgrade the agent`);
    const ctx: StepContext = {
      libvirt: () => {
        const conn = this.options.libvirt();
        if (!conn) {
          throw new StepError(StepErrorCodes.LIBVIRT, `the agent is not connected to libvirtd (${this.options.libvirtUri}) right now, ` +
            "it is reconnecting; the step did not touch the VM, ask again with a new step id once the agent reports libvirt connected");
        }
        return conn;
      },
      config: this.options.config,
      stepId: id,
      log: this.options.logger,
    };
    const result: StepResultOf<StepKind> = await handler.run(action as ActionOf<StepKind>, ctx);
    const schema = StepResultSchemas[action.kind] as z.ZodType<Record<string, unknown>>;
    const parsed = schema.safeParse(result);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(result)"}: ${i.message}`).join("; ");
      throw new StepError(StepErrorCodes.FAILED, `the agent produced an invalid ${action.kind} result for VM ${action.vm} (${issues}); ` +
        "this is a bug in the agent, the step's effect on the VM is unknown: check it before going on");
    }
    return parsed.data;
  }

  /** Drops finished outcomes older than the retention time. */
  private prune(): void {
    const oldest = this.now() - this.retentionMs;
    for (const [id, entry] of this.entries) {
      if (entry.finishedAt !== null && entry.finishedAt < oldest) this.entries.delete(id);
    }
  }

  /** Makes room for one more entry by dropping the oldest finished ones; false when all are still running or waiting. */
  private makeRoom(): boolean {
    if (this.entries.size < this.maxEntries) return true;
    for (const [id, entry] of this.entries) {
      if (entry.finishedAt === null) continue;
      this.entries.delete(id);
      if (this.entries.size < this.maxEntries) return true;
    }
    return false;
  }
}

function failure(err: StepError): StepOutcome {
  return { ok: false, error: errorPayload(err) };
}
