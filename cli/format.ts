/** Small text helpers for the CLI's human output (tables come from shared/table.ts). */
import { escapeControl } from "../shared/terminal-text.js";

/** "12s ago", "5m ago", "3h ago", "4d ago"; "never" for null. Future times (clock skew) read as "0s ago". */
export function relativeTime(iso: string | null, now: number = Date.now()): string {
  if (iso === null) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** "3d 4h", "2h 5m", "5m 12s", "12s". */
export function formatUptime(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export const yesNo = (value: boolean): string => (value ? "yes" : "no");

/** "-" for a missing value, so table columns never collapse. */
export const orDash = (value: string | number | null | undefined): string =>
  value === null || value === undefined || value === "" ? "-" : String(value);

/** Aligned "key  value" lines, for single records such as `status`; values shown with control characters escaped, as table cells. */
export function formatKeyValues(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${escapeControl(value)}`.trimEnd()).join("\n") + "\n";
}

/** `key=value` pairs of an event's extra data; nested values as compact JSON. */
export function formatData(data: Record<string, unknown> | null): string {
  if (!data) return "";
  return Object.entries(data)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}
