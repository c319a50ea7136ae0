/**
 * ISO 8601 times as operators type them, read strictly. `Date.parse` takes
 * far more ("foo 1" is 2001-01-01, 2026-02-30 is March 2nd, a time without
 * offset is the reader's local time), so the shape is checked first and the
 * calendar fields after.
 */

/** A date (midnight UTC), or a date and time with `Z` or a `±HH:MM` offset; seconds and fractions optional. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export const ISO_TIME_FORMS = "an ISO 8601 date (2026-11-23, midnight UTC) or date and time with Z or an offset (2026-11-23T06:00Z, 2026-11-23T07:00:00+01:00)";

/** Epoch ms of an ISO 8601 time in one of the forms above; null for anything else, impossible dates included. */
export function parseIsoTime(text: string): number | null {
  const m = ISO.exec(text);
  if (!m) return null;
  const [, year, month, day, hour = "00", minute = "00", second = "00", offset] = m;
  const ms = Date.parse(offset === undefined ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(ms)) return null;
  // Date.parse rolls 02-30 over to March; the fields it read must be the ones written.
  const check = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)));
  const same = check.getUTCFullYear() === Number(year) && check.getUTCMonth() === Number(month) - 1 && check.getUTCDate() === Number(day)
    && check.getUTCHours() === Number(hour) && check.getUTCMinutes() === Number(minute) && check.getUTCSeconds() === Number(second);
  return same ? ms : null;
}
