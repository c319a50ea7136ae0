/**
 * `run start --wait`: follows a run by polling GET /v1/runs/:id and its
 * evidence (after= the last seq seen) about once a second, prints a line per
 * change and the evidence as it comes, and returns the finished run. Waiting
 * never changes the run: Ctrl-C only stops the waiting.
 */
import { NightshiftError } from "../shared/errors.js";
import type { EvidenceRecord, RunDetail, RunVmRecord } from "../shared/runs.js";
import { ControllerUnreachableError, type ApiClient } from "./api-client.js";
import { evidenceEntry, evidenceLayout, type EvidenceLayout } from "./evidence-format.js";
import { countsText, isoSeconds, runVmsTable } from "./run-format.js";

export const POLL_INTERVAL_MS = 1_000;
/** How long the controller may stay unreachable (a restart) before waiting gives up. */
export const UNREACHABLE_LIMIT_MS = 5 * 60_000;

const vmKey = (v: RunVmRecord) => `${v.host}/${v.vm}`;

/**
 * What changed between two polls of a run (prev null: the first look): VMs
 * that ended and the run halting or changing state (`outcomes`), and VMs that
 * moved to another phase (`phases`).
 */
export function runChanges(prev: RunDetail | null, next: RunDetail, now: string, vmWidth = 0): { phases: string[]; outcomes: string[] } {
  const time = isoSeconds(now);
  const phases: string[] = [];
  const outcomes: string[] = [];
  const line = (who: string, what: string) => `${time}  ${who.padEnd(vmWidth)}  ${what}`;
  const before = new Map((prev?.vms ?? []).map((v) => [vmKey(v), v]));
  for (const vm of [...next.vms].sort((a, b) => a.position - b.position)) {
    const old = before.get(vmKey(vm));
    if (vm.outcome !== null && vm.outcome !== old?.outcome) {
      outcomes.push(line(vm.vm, `${vm.outcome}${vm.reason ? `: ${vm.reason}` : ""}`));
    } else if (vm.outcome === null && vm.phase !== (old?.phase ?? "pending")) {
      phases.push(line(vm.vm, `phase ${vm.phase}${vm.reason && vm.reason !== old?.reason ? ` (${vm.reason})` : ""}`));
    }
  }
  if (next.haltReason && next.haltReason !== prev?.haltReason) outcomes.push(line("run", `halted: ${next.haltReason}`));
  if (prev && next.state !== prev.state) outcomes.push(line("run", `state ${next.state}`));
  return { phases, outcomes };
}

/** The table and counts printed when the run is finished. */
export function summaryText(run: RunDetail): string {
  return `\nRun ${run.id} finished: ${countsText(run.counts)}${run.haltReason ? ` (halted: ${run.haltReason})` : ""}\n` +
    runVmsTable(run.vms);
}

/** Whether `--wait` exits 0: every VM succeeded. */
export const allSucceeded = (run: RunDetail): boolean => run.vms.length > 0 && run.vms.every((v) => v.outcome === "succeeded");

/** The error `--wait` ends with when a VM did not succeed (exit 1). */
export function notSucceededError(run: RunDetail): NightshiftError {
  const failed = run.vms.filter((v) => v.outcome !== "succeeded").length;
  return new NightshiftError("NS_ERR_RUN_NOT_SUCCEEDED",
    `run ${run.id} finished, ${failed} of ${run.vms.length} VM${run.vms.length === 1 ? "" : "s"} did not succeed ` +
    `(${countsText(run.counts)}): see nightshift run evidence ${run.id}`);
}

export interface WaitOptions {
  client: Pick<ApiClient, "getRun" | "runEvidence">;
  runId: string;
  /** The run as start returned it; changes are reported from there. */
  initial?: RunDetail | null;
  /** Where progress lines go (stdout, or stderr with --json). */
  write: (text: string) => void;
  intervalMs?: number;
  unreachableLimitMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Polls until the run is finished; returns it. Unreachable controller: retried for a while, said once. */
export async function waitForRun(options: WaitOptions): Promise<RunDetail> {
  const { client, runId, write } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const interval = options.intervalMs ?? POLL_INTERVAL_MS;
  const limit = options.unreachableLimitMs ?? UNREACHABLE_LIMIT_MS;

  let prev = options.initial ?? null;
  let after: number | undefined;
  let layout: EvidenceLayout | null = null;
  let unreachableSince: number | null = null;

  for (;;) {
    let run: RunDetail;
    let evidence: EvidenceRecord[];
    try {
      // The run first, then its evidence: when the run reads finished, the evidence fetched after it is complete.
      run = await client.getRun(runId);
      evidence = await client.runEvidence(runId, after);
    } catch (err) {
      if (!(err instanceof ControllerUnreachableError)) throw err;
      if (unreachableSince === null) {
        unreachableSince = now();
        write(`${isoSeconds(new Date(unreachableSince).toISOString())}  ${err.message}; retrying\n`);
      } else if (now() - unreachableSince >= limit) {
        throw new ControllerUnreachableError(`${err.message}; gave up waiting for run ${runId} after ` +
          `${Math.round(limit / 1000)} s (the run itself continues on the controller)`, { cause: err });
      }
      await sleep(interval);
      continue;
    }
    if (unreachableSince !== null) {
      write(`${isoSeconds(new Date(now()).toISOString())}  the controller answers again\n`);
      unreachableSince = null;
    }

    const names = run.vms.map((v) => v.vm);
    const wanted = evidenceLayout(evidence, names);
    layout = layout === null ? wanted : {
      vm: Math.max(layout.vm, wanted.vm), step: Math.max(layout.step, wanted.step), duration: Math.max(layout.duration, wanted.duration),
    };
    // What was done (evidence, with its own times), then what the run looks like now (this poll's time).
    for (const record of evidence) {
      write(evidenceEntry(record, layout));
      after = Math.max(after ?? 0, record.seq);
    }
    const changes = runChanges(prev, run, new Date(now()).toISOString(), layout.vm);
    for (const text of [...changes.outcomes, ...changes.phases]) write(text + "\n");
    prev = run;
    if (run.state === "finished") return run;
    await sleep(interval);
  }
}

/**
 * While waiting, Ctrl-C (SIGINT) ends the CLI with status 130 and says that
 * the run goes on and how to follow or abort it. Returns the undo.
 */
export function stopWaitingOnInterrupt(runId: string): () => void {
  const onInterrupt = () => {
    process.stderr.write(`\nnightshift: stopped waiting; run ${runId} continues on the controller.\n` +
      `  follow it:  nightshift run show ${runId}\n` +
      `  abort it:   nightshift run abort ${runId}\n`);
    process.exit(130);
  };
  process.on("SIGINT", onInterrupt);
  return () => process.off("SIGINT", onInterrupt);
}
