import { ISO_TIME_FORMS, parseIsoTime } from "./iso-time.js";

/** Durations as operators write them: 90s, 15m, 1h, 2d, 1w (or a plain number of seconds). */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (!match) return null;
  const ms = Math.round(Number(match[1]) * UNIT_MS[(match[2] ?? "s").toLowerCase()]!);
  // Four hundred nines are a number to JavaScript (Infinity), not a duration.
  return Number.isSafeInteger(ms) ? ms : null;
}

/** What `parseSince` takes, for error messages. */
export const SINCE_FORMS = `a duration back from now (90s, 15m, 1h, 2d, 1w; a plain number is seconds) or ${ISO_TIME_FORMS}`;

/** `--since` values: a duration back from now, or an absolute ISO 8601 time (see iso-time.ts). Returns epoch ms. */
export function parseSince(text: string, now = Date.now()): number | null {
  const duration = parseDuration(text);
  if (duration !== null) return now - duration;
  return parseIsoTime(text);
}
