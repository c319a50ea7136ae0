/** JSON texts built to cost a parser dearly, of about a given size: for the controller's hostile-frame tests and bench/hostile-frames.ts. */

export type HostileShape = "array" | "object" | "wide" | "many-wide";

/** Entries in each array of `many-wide`: one under the per-container limit (MAX_JSON_ITEMS, 20,000). */
export const MANY_WIDE_ENTRIES = 19_999;

/**
 * `array`: `[[[...]]]`, half a byte per level; `object`: `{"a":{"a":...1}}`;
 * `wide`: an inventory whose `domains` holds ~bytes/2 numbers (valid JSON, shallow, huge);
 * `many-wide`: an inventory whose `domains` holds as many arrays of 19,999 numbers as fit in
 * `bytes` (each container under the per-container limit, ~bytes/2 entries in all).
 */
export function hostileJson(shape: HostileShape, bytes: number): string {
  if (shape === "array") {
    const depth = Math.floor(bytes / 2);
    return "[".repeat(depth) + "]".repeat(depth);
  }
  if (shape === "object") {
    const depth = Math.floor((bytes - 1) / 6);
    return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  }
  const head = `{"v":1,"type":"inventory","collectedAt":"${new Date(0).toISOString()}","domains":[`;
  if (shape === "many-wide") {
    const one = `[${"0,".repeat(MANY_WIDE_ENTRIES - 1)}0]`;
    const count = Math.max(1, Math.floor((bytes - head.length - 2) / (one.length + 1)));
    return head + Array.from({ length: count }, () => one).join(",") + "]}";
  }
  const count = Math.max(1, Math.floor((bytes - head.length - 2) / 2));
  return head + "0,".repeat(count - 1) + "0]}";
}
