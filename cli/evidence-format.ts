/**
 * The evidence log as text: one line per step or check,
 *   TIME  VM  STEP/CHECK  PASS|FAIL|INFO|WARN  DURATION  COMMAND
 * with the output excerpt below it, indented. Guest output is untrusted:
 * control characters (terminal escapes) are shown escaped, never sent raw.
 */
import type { EvidenceRecord } from "../shared/runs.js";
import { escapeControl } from "../shared/terminal-text.js";
import { formatDurationMs } from "./run-format.js";

/** Column widths, so that lines printed in several batches (run start --wait) stay aligned. */
export interface EvidenceLayout {
  vm: number;
  step: number;
  duration: number;
}

const MIN_STEP_WIDTH = 20;
const MIN_DURATION_WIDTH = 6;
export const OUTPUT_INDENT = "    | ";

const stepOf = (r: EvidenceRecord) => (r.check ? `${r.step}/${r.check}` : r.step);

/** Widths that fit these records and VM names (the run's, when known up front). */
export function evidenceLayout(records: readonly EvidenceRecord[], vmNames: readonly string[] = []): EvidenceLayout {
  return {
    vm: Math.max(1, ...vmNames.map((n) => n.length), ...records.map((r) => (r.vm ?? "-").length)),
    step: Math.max(MIN_STEP_WIDTH, ...records.map((r) => stepOf(r).length)),
    duration: Math.max(MIN_DURATION_WIDTH, ...records.map((r) => formatDurationMs(r.durationMs).length)),
  };
}

/** The output excerpt's lines, trailing blank lines and CRs dropped; [] when there is none. */
export function outputLines(output: string): string[] {
  const trimmed = output.replace(/\s+$/, "");
  if (trimmed === "") return [];
  return trimmed.split("\n").map((line) => escapeControl(line.replace(/\r$/, "")));
}

/** One record: its line, then its output indented. Ends with a newline. */
export function evidenceEntry(record: EvidenceRecord, layout: EvidenceLayout): string {
  const line = [
    record.time, // milliseconds: steps of one VM often share a second
    escapeControl(record.vm ?? "-").padEnd(layout.vm),
    escapeControl(stepOf(record)).padEnd(layout.step),
    record.result.padEnd(4),
    formatDurationMs(record.durationMs).padStart(layout.duration),
    escapeControl(record.command),
  ].join("  ").trimEnd();
  return [line, ...outputLines(record.output).map((l) => `${OUTPUT_INDENT}${l}`.trimEnd())].join("\n") + "\n";
}

/** The whole log of `run evidence`, aligned over all its records. */
export function evidenceText(records: readonly EvidenceRecord[]): string {
  const layout = evidenceLayout(records);
  return records.map((r) => evidenceEntry(r, layout)).join("");
}
