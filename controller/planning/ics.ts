/**
 * A group's slots of a plan as an iCalendar file (RFC 5545) customers can
 * import: one VEVENT per slot with a stable UID, times in UTC, the machine in
 * the summary and the wave and plan in the description. Lines end in CRLF and
 * are folded at 75 octets (never inside a UTF-8 character); text values are
 * escaped (backslash, semicolon, comma, newline).
 */
import type { PlanRow, SlotRow } from "../store/plans.js";

/** TEXT value escaping (RFC 5545 3.3.11). */
export function escapeText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r\n|\r|\n/g, "\\n");
}

/** Folds a content line into lines of at most 75 octets, continuation lines starting with a space (3.1). */
export function foldLine(line: string): string {
  const bytes = Buffer.from(line, "utf8");
  if (bytes.length <= 75) return line;
  const parts: string[] = [];
  let start = 0;
  let limit = 75;
  while (start < bytes.length) {
    let end = Math.min(start + limit, bytes.length);
    // Back off to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    parts.push(bytes.subarray(start, end).toString("utf8"));
    start = end;
    limit = 74; // the leading space counts
  }
  return parts.join("\r\n ");
}

/** 20250325T010000Z */
export function icsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function planCalendar(plan: PlanRow, slots: readonly SlotRow[], group: string): string {
  const lines = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//nightshift//maintenance windows//EN",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    `X-WR-CALNAME:${escapeText(`Maintenance of ${group}: ${plan.name}`)}`,
  ];
  for (const s of slots) {
    if (s.grp !== group) continue;
    const what = s.kind === "vm" ? `VM ${s.name} on ${s.host}` : `host ${s.name}`;
    lines.push(
      "BEGIN:VEVENT",
      `UID:${s.id}-${plan.id}@nightshift`,
      `DTSTAMP:${icsTime(plan.created_at)}`,
      `DTSTART:${icsTime(s.start_at)}`,
      `DTEND:${icsTime(s.end_at)}`,
      `SUMMARY:${escapeText(`Maintenance: ${s.name}`)}`,
      `DESCRIPTION:${escapeText(`Maintenance of ${what} (group ${group}).\nWave ${s.wave_name} of plan ${plan.name} (${plan.id}).\n` +
        `Slot state: ${s.state}${s.outcome ? ` (${s.outcome})` : ""}.`)}`,
      `STATUS:${s.state === "cancelled" ? "CANCELLED" : "CONFIRMED"}`,
      "TRANSP:OPAQUE",
      "END:VEVENT",
    );
  }
  lines.push("END:VCALENDAR");
  return lines.map(foldLine).join("\r\n") + "\r\n";
}
