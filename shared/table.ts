/**
 * Aligned plain-text tables for human output; `--json` is for machines. Every
 * cell is shown with its control characters escaped (terminal-text.ts): cells
 * hold what agents report (VM names, finding messages, event fields, versions),
 * and one that holds ESC or CR must not drive the operator's terminal.
 */
import { escapeControl } from "./terminal-text.js";

export function formatTable(headers: readonly string[], rawRows: readonly (readonly string[])[]): string {
  // Escaped before measuring, so the columns line up with what is printed.
  const rows = rawRows.map((r) => r.map((cell) => escapeControl(cell)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

export function formatKiB(kib: number): string {
  if (kib >= 1024 * 1024) return `${+(kib / 1024 / 1024).toFixed(1)} GiB`;
  if (kib >= 1024) return `${+(kib / 1024).toFixed(1)} MiB`;
  return `${kib} KiB`;
}
