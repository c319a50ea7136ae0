/**
 * Per-code caps on findings. A probe that judges line by line (fstab) or mount
 * by mount gives one finding per line; on a damaged file that is tens of
 * thousands, which helps nobody and does not fit a report. The first
 * `findingsPerCode` (settings, default FINDINGS_PER_CODE) of each code are
 * kept as they are (each with its own corrected line); the rest of that code
 * become one summary, which the probe words (it knows what a "line" or a
 * "mount point" is).
 */
import type { Severity } from "../../shared/protocol/findings.js";
import type { ProbeFinding } from "./types.js";

/** The default of the probe setting findingsPerCode. */
export const FINDINGS_PER_CODE = 20;

const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export function worstSeverity(findings: readonly Pick<ProbeFinding, "severity">[]): Severity {
  return findings.reduce<Severity>((worst, f) => (RANK[f.severity] < RANK[worst] ? f.severity : worst), "info");
}

/**
 * The items' findings with at most `cap` per code, in their order; for each
 * code over the cap, `summarize(all, rest)` (all of that code, and those left
 * out) is appended after the kept ones, in the order codes first appear.
 */
export function capPerCode<T extends { finding: ProbeFinding }>(
  items: readonly T[], summarize: (all: T[], rest: T[]) => ProbeFinding, cap = FINDINGS_PER_CODE,
): ProbeFinding[] {
  const byCode = new Map<string, T[]>();
  const kept: ProbeFinding[] = [];
  for (const item of items) {
    let list = byCode.get(item.finding.code);
    if (!list) byCode.set(item.finding.code, (list = []));
    list.push(item);
    if (list.length <= cap) kept.push(item.finding);
  }
  for (const list of byCode.values()) if (list.length > cap) kept.push(summarize(list, list.slice(cap)));
  return kept;
}

/**
 * Line numbers (or any sorted integers) as ranges, "21-40, 45, 50-52", cut
 * with ", … and N more" (N numbers) so the text stays within `maxChars`.
 */
export function formatNumberList(numbers: readonly number[], maxChars: number): string {
  const ranges: { text: string; count: number }[] = [];
  for (let i = 0; i < numbers.length;) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    ranges.push({ text: j === i ? String(numbers[i]) : `${numbers[i]}-${numbers[j]}`, count: j - i + 1 });
    i = j + 1;
  }
  let out = "";
  let listed = 0;
  for (const [k, range] of ranges.entries()) {
    const next = out ? `${out}, ${range.text}` : range.text;
    // Room for the tail that says how much is left out, unless this is the last range.
    if (out && next.length > maxChars - (k < ranges.length - 1 ? 24 : 0)) return `${out}, … and ${numbers.length - listed} more`;
    out = next;
    listed += range.count;
  }
  return out;
}
