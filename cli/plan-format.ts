/**
 * Human output for plans: the plan by wave and day (`plan show`, `plan week`),
 * the cross-check (`plan check`), and the answer to pause/resume/cancel. All
 * times are UTC, and the output says so.
 */
import type { PlanCheckRecord, PlanRecord, SlotRecord, WaveRecord } from "../shared/plans.js";
import { formatTable } from "../shared/table.js";
import { formatKeyValues, orDash } from "./format.js";
import { isoSeconds } from "./run-format.js";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;

const utc = (iso: string): Date | null => {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : new Date(ms);
};

/** "2026-03-03 01:00" (UTC). */
export function utcMinute(iso: string): string {
  const date = utc(iso);
  return date ? date.toISOString().slice(0, 16).replace("T", " ") : iso;
}

/** "2026-03-03 01:00-04:00", or "2026-03-03 22:00-2026-03-04 04:00" across midnight (UTC). */
export function utcRange(startIso: string, endIso: string): string {
  const [start, end] = [utcMinute(startIso), utcMinute(endIso)];
  return start.slice(0, 10) === end.slice(0, 10) ? `${start}-${end.slice(11)}` : `${start}-${end}`;
}

/** "Tue 2026-03-03": the UTC day a slot starts on. */
export function utcDay(iso: string): string {
  const date = utc(iso);
  return date ? `${DAYS[date.getUTCDay()]} ${date.toISOString().slice(0, 10)}` : iso;
}

/** "04:00", or "00:30+1d" when the end is on a later UTC day than the start. */
export function endTime(startIso: string, endIso: string): string {
  const [start, end] = [utc(startIso), utc(endIso)];
  if (!start || !end) return endIso;
  const days = Math.round((Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate()) -
    Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate())) / 86_400_000);
  const time = end.toISOString().slice(11, 16);
  return days > 0 ? `${time}+${days}d` : time;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** "3 scheduled, 1 done": a count per state, in the order given. */
function stateCounts(states: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state, (counts.get(state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(", ");
}

export const SLOT_COLUMNS = ["DAY", "START", "END", "MACHINE", "KIND", "HOST", "GROUP", "STATE", "RUN", "OUTCOME"] as const;
export const UNPLACED_COLUMNS = ["MACHINE", "GROUP", "WAVE", "REASON", "DETAIL"] as const;

const bySlotTime = (a: SlotRecord, b: SlotRecord) =>
  Date.parse(a.start) - Date.parse(b.start) || a.name.localeCompare(b.name) || a.id - b.id;

/** The header line of a wave: its range, state, failure budget and slots. */
export function waveHeader(wave: WaveRecord, index: number, count: number, slots: readonly SlotRecord[]): string {
  const budget = wave.failureBudget === null ? "" : `, failure budget ${wave.failureBudget}`;
  const states = slots.length > 0 ? ` (${stateCounts([...slots].sort(bySlotTime).map((s) => s.state))})` : "";
  return `Wave ${index + 1}/${count} ${wave.name}: ${utcRange(wave.start, wave.end)} UTC, ${wave.state}${budget}; ` +
    `${plural(slots.length, "slot")}${states}`;
}

/** The slots of one wave, by start time: one row each, the UTC day first. */
export function slotsTable(slots: readonly SlotRecord[], indent = "  "): string {
  const rows = [...slots].sort(bySlotTime).map((s) => [
    utcDay(s.start), utcMinute(s.start).slice(11), endTime(s.start, s.end), s.name, s.kind, s.host, s.group, s.state,
    orDash(s.runId), orDash(s.outcome),
  ]);
  return formatTable(SLOT_COLUMNS, rows).trimEnd().split("\n").map((line) => indent + line).join("\n") + "\n";
}

export function unplacedTable(plan: Pick<PlanRecord, "unplaced">, indent = "  "): string {
  const rows = [...plan.unplaced]
    .sort((a, b) => a.group.localeCompare(b.group) || a.name.localeCompare(b.name))
    .map((u) => [u.name, u.group, u.wave ?? "(none)", u.reason, u.detail]);
  return formatTable(UNPLACED_COLUMNS, rows).trimEnd().split("\n").map((line) => indent + line).join("\n") + "\n";
}

/**
 * The whole plan: a header, then per wave (in the plan's order) a line with
 * its range and state and a table of its slots by time, then the machines
 * that got no slot with the reason. Slots of a wave the plan does not list
 * come last under "Other slots".
 */
export function planText(plan: PlanRecord, options: { dryRun?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`Plan ${plan.id} ${JSON.stringify(plan.name)}: ${plan.state}` +
    (options.dryRun ? " (dry run: nothing was stored)" : ""));
  const header: [string, string][] = [
    ["week of", plan.weekStart.length > 10 ? `${utcMinute(plan.weekStart)} UTC` : plan.weekStart],
    ["created", isoSeconds(plan.createdAt)],
    ...(plan.pausedReason ? [["paused", plan.pausedReason] as [string, string]] : []),
    ["slots", `${plural(plan.slots.length, "slot")} in ${plural(plan.waves.length, "wave")}` +
      (plan.slots.length > 0 ? ` (${stateCounts(plan.slots.map((s) => s.state))})` : "")],
    ["unplaced", plan.unplaced.length === 0 ? "none" : `${plural(plan.unplaced.length, "machine")} without a slot (below)`],
  ];
  out.push(formatKeyValues(header).trimEnd().split("\n").map((l) => `  ${l}`).join("\n"));
  out.push("All times are UTC.", "");

  const byWave = new Map<string, SlotRecord[]>();
  for (const slot of plan.slots) byWave.set(slot.wave, [...(byWave.get(slot.wave) ?? []), slot]);
  plan.waves.forEach((wave, i) => {
    const slots = byWave.get(wave.name) ?? [];
    byWave.delete(wave.name);
    out.push(waveHeader(wave, i, plan.waves.length, slots));
    out.push(slots.length > 0 ? slotsTable(slots).trimEnd() : "  (no slots)", "");
  });
  const others = [...byWave.values()].flat();
  if (others.length > 0) out.push("Other slots (their wave is not in the plan's list):", slotsTable(others).trimEnd(), "");

  if (plan.unplaced.length > 0) {
    out.push(`Unplaced (${plan.unplaced.length}): no slot for these machines; WAVE "(none)" means no wave selected it`);
    out.push(unplacedTable(plan).trimEnd(), "");
  }
  return out.join("\n");
}

export const CHECK_COLUMNS = ["MACHINE", "GROUP", "PROBLEM", "REASON", "DETAIL"] as const;

/** `plan check`: every in-scope machine without exactly one slot, or a line saying there is none. */
export function checkText(records: readonly PlanCheckRecord[]): string {
  if (records.length === 0) return "Every machine in scope has exactly one slot in the current plan.\n";
  const rows = [...records]
    .sort((a, b) => a.group.localeCompare(b.group) || a.name.localeCompare(b.name))
    .map((r) => [r.name, r.group, r.problem, orDash(r.reason), r.detail]);
  return formatTable(CHECK_COLUMNS, rows);
}

/** The summary of a failed check, for its error message. */
export function checkSummary(records: readonly PlanCheckRecord[]): string {
  const none = records.filter((r) => r.problem === "no-slot").length;
  const several = records.length - none;
  const parts = [none > 0 ? `${none} without a slot` : null, several > 0 ? `${several} with several slots` : null].filter(Boolean);
  return `${plural(records.length, "machine")} in scope ${records.length === 1 ? "does" : "do"} not have exactly one slot ` +
    `(${parts.join(", ")})`;
}

/** What pause, resume and cancel say: the plan's new state and what follows from it. */
export function planActionText(plan: PlanRecord): string {
  const what: Record<PlanRecord["state"], string> = {
    paused: "no new slot starts until nightshift plan resume (or nightshift plan cancel)",
    running: "slots start as their times come",
    scheduled: "slots start as their times come",
    cancelled: "its slots that have not started will not start",
    finished: "every slot has ended",
  };
  return `Plan ${plan.id} ${JSON.stringify(plan.name)} is ${plan.state}${plan.pausedReason ? ` (${plan.pausedReason})` : ""}: ` +
    `${what[plan.state] ?? "see nightshift plan show"}.\n`;
}
