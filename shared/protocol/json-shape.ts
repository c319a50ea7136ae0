/**
 * A cheap look at a JSON text's structure before JSON.parse builds it. Four
 * MiB of `[[[[...` parse into two million nested arrays (and stay in the heap
 * until the next major GC); four MiB of `0,0,0,...` into a two-million entry
 * array that zod then checks element by element. One pass over the text,
 * skipping strings, counting nesting depth and the entries of each open
 * array or object, refuses both before anything is allocated.
 */

export type JsonShapeProblem = { kind: "too-deep" | "too-many-items"; detail: string };

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;

/** null when the text nests at most `maxDepth` deep and no array or object has more than `maxItems` entries. */
export function jsonShapeProblem(text: string, maxDepth: number, maxItems: number): JsonShapeProblem | null {
  // Separators seen in each open container; entries are one more.
  const commas = new Int32Array(maxDepth + 1);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) {
        return { kind: "too-deep", detail: `nested deeper than ${maxDepth} levels (arrays and objects); no protocol message is` };
      }
      commas[depth] = 0;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth > 0) depth--;
    } else if (c === COMMA && depth > 0) {
      if (++commas[depth]! >= maxItems) {
        return { kind: "too-many-items", detail: `an array or object with more than ${maxItems} entries; no protocol message has one` };
      }
    }
  }
  return null;
}

/**
 * Index of the quote closing the string that opens at `start` (text.length if
 * none: an unterminated string is JSON.parse's to report). Brackets and commas
 * inside are text. indexOf is native; a quote is escaped when an odd number of
 * backslashes precede it.
 */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}
