/** The tables bench/controller-load.ts prints: each figure next to its target, then the correctness checks. */

export interface Row {
  what: string;
  value: string;
  target?: string;
  /** undefined: informational, no target. */
  pass?: boolean;
}

export interface Check {
  what: string;
  pass: boolean;
  detail: string;
}

/** Columns in `right` are right-aligned (numbers), the others left-aligned. */
function table(headers: string[], rows: string[][], right: number[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function formatFigures(rows: Row[]): string {
  return table(["figure", "value", "target", "result"],
    rows.map((r) => [r.what, r.value, r.target ?? "", r.pass === undefined ? "" : r.pass ? "PASS" : "FAIL"]), [1, 2]);
}

export function formatChecks(checks: Check[]): string {
  return table(["correctness check", "result", "detail"], checks.map((c) => [c.what, c.pass ? "PASS" : "FAIL", c.detail]), []);
}

export const mb = (x: number) => `${x.toFixed(1)} MB`;
export const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const pct = (utilisation: number) => `${(utilisation * 100).toFixed(0)} %`;
