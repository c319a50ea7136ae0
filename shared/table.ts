/** Aligned plain-text tables for human output; `--json` is for machines. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
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
