/** Human output for maintenance runs: the run list, one run with its VMs, a dry run's plan. */
import { formatTable } from "../shared/table.js";
import type { RunDetail, RunPlan, RunRecord, RunSpec, RunVmRecord, VmOutcome } from "../shared/runs.js";
import { formatKeyValues, orDash } from "./format.js";

/** "2026-11-23T12:00:01Z": ISO time to the second (UTC), "-" for none. */
export function isoSeconds(iso: string | null | undefined): string {
  if (!iso) return "-";
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "850ms", "12.3s", "4m 05s", "2h 03m". */
export function formatDurationMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const COUNT_ORDER: readonly (VmOutcome | "in-flight" | "pending")[] =
  ["succeeded", "rolled-back", "skipped", "needs-attention", "aborted", "in-flight", "pending"];

/** "3 succeeded, 1 rolled-back, 2 pending": the non-zero counts, outcomes first. */
export function countsText(counts: Partial<RunRecord["counts"]>): string {
  const parts = COUNT_ORDER.filter((k) => (counts[k] ?? 0) > 0).map((k) => `${counts[k]} ${k}`);
  return parts.length > 0 ? parts.join(", ") : "none yet";
}

export const RUNS_COLUMNS = ["ID", "NAME", "STATE", "VMS", "SUCCEEDED", "ROLLED-BACK", "SKIPPED", "NEEDS-ATTENTION",
  "ABORTED", "CREATED", "HALT REASON"] as const;

export function runsTable(runs: readonly RunRecord[]): string {
  const n = (run: RunRecord, key: keyof RunRecord["counts"]) => String(run.counts?.[key] ?? 0);
  return formatTable(RUNS_COLUMNS, runs.map((r) => [
    r.id, r.name, r.state, String(r.vmCount), n(r, "succeeded"), n(r, "rolled-back"), n(r, "skipped"),
    n(r, "needs-attention"), n(r, "aborted"), isoSeconds(r.createdAt), orDash(r.haltReason),
  ]));
}

export const RUN_VMS_COLUMNS = ["POS", "VM", "HOST", "CANARY", "PHASE", "OUTCOME", "REASON", "SNAPSHOT"] as const;

/** Longer reasons are cut in the table and printed whole below it. */
export const REASON_WIDTH = 60;

const cut = (text: string) => (text.length > REASON_WIDTH ? `${text.slice(0, REASON_WIDTH - 3)}...` : text);

export function runVmsTable(vms: readonly RunVmRecord[]): string {
  const sorted = [...vms].sort((a, b) => a.position - b.position);
  const table = formatTable(RUN_VMS_COLUMNS, sorted.map((v) => [
    String(v.position), v.vm, v.host, v.canary ? "yes" : "no", v.phase, orDash(v.outcome), cut(orDash(v.reason)), orDash(v.snapshot),
  ]));
  const long = sorted.filter((v) => (v.reason ?? "").length > REASON_WIDTH);
  if (long.length === 0) return table;
  return `${table}\nReasons:\n${long.map((v) => `  ${v.position} ${v.vm}: ${v.reason}`).join("\n")}\n`;
}

/** What the spec asks for, in a few words per line. */
export function specLines(spec: RunSpec): [string, string][] {
  const verify = spec.verify;
  const checks = [
    verify.exec !== undefined ? `exec ${JSON.stringify(verify.exec)}` +
      (verify.output !== undefined ? ` outputs ${JSON.stringify(verify.output)}` : "") +
      (verify.outputPattern !== undefined ? ` has a line matching /${verify.outputPattern}/` : "") : null,
    verify.tcp.length > 0 ? `tcp ${verify.tcp.join(", ")}` : null,
    verify.http.length > 0 ? `http ${verify.http.join(", ")}${verify.httpStatus ? ` (status ${verify.httpStatus})` : ""}` : null,
  ].filter((c): c is string => c !== null);
  const patch = "exec" in spec.patch ? `exec ${JSON.stringify(spec.patch.exec)}` : `hook ${spec.patch.hook}`;
  return [
    ["patch", `${patch} (timeout ${spec.patchTimeout})`],
    ["reboot", spec.reboot + (spec.rebootIfOlderThan ? `; first a reboot if up longer than ${spec.rebootIfOlderThan}` : "")],
    ["verify", checks.length > 0 ? checks.join("; ") : "guest agent answers"],
    ["limits", `${spec.maxParallel} at once, ${spec.maxParallelPerHost} per host; ${spec.canary} canary; ` +
      `no new VM after ${spec.maxFailures} failure${spec.maxFailures === 1 ? "" : "s"}`],
    ["snapshots", `${spec.snapshotMode}, kept ${spec.keepSnapshots}${spec.allowNoRollback ? "; VMs that cannot be snapshotted are patched anyway" : ""}`],
    ["logged-in", spec.loggedInUsers === "skip" ? "skip VMs with users logged in" : "note users logged in (warn)"],
  ];
}

/** `run show`: the run's header, then its VMs. */
export function runDetailText(run: RunDetail): string {
  const header: [string, string][] = [
    ["run", `${run.id} ${JSON.stringify(run.name)}`],
    ["state", run.state + (run.haltReason ? ` (halted: ${run.haltReason})` : "")],
    ["created", isoSeconds(run.createdAt)],
    ["finished", isoSeconds(run.finishedAt)],
    ["vms", `${run.vmCount}: ${countsText(run.counts)}`],
    ...(run.spec ? specLines(run.spec) : []),
  ];
  return `${formatKeyValues(header)}\n${runVmsTable(run.vms)}`;
}

/** A dry run's plan: the rules, then every VM in order with its steps. */
export function planText(plan: RunPlan): string {
  const out: string[] = [`Plan for ${JSON.stringify(plan.name)} (dry run: nothing was started)`, "", "Rules:"];
  out.push(...(plan.rules.length > 0 ? plan.rules.map((r) => `  - ${r}`) : ["  (none)"]));
  out.push("", `VMs in order (${plan.vms.length}):`);
  const vms = [...plan.vms].sort((a, b) => a.position - b.position);
  const rows = formatTable(["POS", "VM", "HOST", "CANARY"], vms.map((v) => [String(v.position), v.vm, v.host, v.canary ? "yes" : "no"]))
    .trimEnd().split("\n");
  out.push(`  ${rows[0]}`);
  vms.forEach((v, i) => {
    out.push(`  ${rows[i + 1]}`);
    v.steps.forEach((step, n) => out.push(`      ${String(n + 1).padStart(2)}. ${step}`));
  });
  return out.join("\n") + "\n";
}

/** What `run start` says after starting a run: its id and how to follow it. */
export function startedText(run: RunDetail): string {
  const canaries = run.vms.filter((v) => v.canary).sort((a, b) => a.position - b.position).map((v) => v.vm);
  const follow = [
    [`nightshift run show ${run.id}`, "progress and each VM's outcome"],
    [`nightshift run evidence ${run.id}`, "every step and check with its command and output"],
    [`nightshift run abort ${run.id}`, "start no more VMs"],
  ] as const;
  const width = Math.max(...follow.map(([command]) => command.length));
  return `Started run ${run.id} (${JSON.stringify(run.name)}): ${run.vmCount} VM${run.vmCount === 1 ? "" : "s"}` +
    `${canaries.length > 0 ? `, canary first: ${canaries.join(", ")}` : ""}.\n` +
    follow.map(([command, what]) => `  ${command.padEnd(width)}  ${what}\n`).join("");
}
