/** Cutting text to a schema's bound without breaking it. */

/**
 * `text` cut to at most `max` UTF-16 code units (what the schema's max()
 * counts), with "…" when cut, never between the halves of a surrogate pair.
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
