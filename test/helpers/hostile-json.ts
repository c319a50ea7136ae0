/** JSON texts built to cost a parser dearly, of about a given size: for the controller's hostile-frame tests and bench/hostile-frames.ts. */

export type HostileShape = "array" | "object" | "wide";

/**
 * `array`: `[[[...]]]`, half a byte per level; `object`: `{"a":{"a":...1}}`;
 * `wide`: an inventory whose `domains` holds ~bytes/2 numbers (valid JSON, shallow, huge).
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
  const count = Math.max(1, Math.floor((bytes - head.length - 2) / 2));
  return head + "0,".repeat(count - 1) + "0]}";
}
