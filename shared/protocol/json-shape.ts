/**
 * A cheap look at a JSON text's structure before JSON.parse builds it. Four
 * MiB of `[[[[...` parse into two million nested arrays (and stay in the heap
 * until the next major GC); four MiB of `0,0,0,...` into a two-million entry
 * array that zod then checks element by element. One pass over the text,
 * skipping strings, counting nesting depth and the entries of each open
 * array or object, refuses both before anything is allocated. The entries of
 * all containers together are counted too: a hundred arrays of 19,999
 * numbers each pass the per-container limit, yet are two million values.
 */

export type JsonShapeProblem = { kind: "too-deep" | "too-many-items" | "too-many-entries"; detail: string };

export interface JsonShapeLimits {
  /** Nesting of arrays and objects. */
  maxDepth: number;
  /** Entries of any one array or object. */
  maxItems: number;
  /** Entries of all arrays and objects together (elements and members, nested ones included). */
  maxEntries: number;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;

/**
 * null when the text nests at most `maxDepth` deep, no array or object has
 * more than `maxItems` entries and all of them together no more than `maxEntries`.
 */
export function jsonShapeProblem(text: string, limits: JsonShapeLimits): JsonShapeProblem | null {
  const { maxDepth, maxItems, maxEntries } = limits;
  // Separators seen in each open container; entries are one more, unless it is empty.
  const commas = new Int32Array(maxDepth + 1);
  let depth = 0;
  // Entries of the containers closed so far plus the separators of the open ones: never more than the final count.
  let entries = 0;
  // The last character outside strings that is not white space: a container closed right after it opened is empty.
  let last = 0;
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
      if (last !== OPEN_ARRAY && last !== OPEN_OBJECT && ++entries > maxEntries) return tooManyEntries(maxEntries);
      if (depth > 0) depth--;
    } else if (c === COMMA && depth > 0) {
      if (++commas[depth]! >= maxItems) {
        return { kind: "too-many-items", detail: `an array or object with more than ${maxItems} entries; no protocol message has one` };
      }
      if (++entries > maxEntries) return tooManyEntries(maxEntries);
    } else if (c === 32 || c === 9 || c === 10 || c === 13) {
      continue;
    }
    last = c;
  }
  return null;
}

function tooManyEntries(maxEntries: number): JsonShapeProblem {
  return { kind: "too-many-entries", detail: `more than ${maxEntries} entries in all its arrays and objects together; no protocol message has that many` };
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
