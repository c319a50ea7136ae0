/**
 * The capacity timeline against a plain array of counts, with random adds and
 * queries; the keyed intervals' first-full point on a small case.
 */
import { describe, expect, it } from "vitest";
import { CapacityTimeline, KeyedIntervals } from "../../../../controller/planning/occupancy.js";
import { random } from "../../../helpers/fleet.js";

describe("CapacityTimeline", () => {
  it("answers like a plain array of counts", () => {
    const rnd = random(7);
    for (const size of [1, 2, 3, 17, 64, 100, 1000]) {
      const tree = new CapacityTimeline(size);
      const plain = new Array<number>(size).fill(0);
      for (let step = 0; step < 300; step++) {
        const a = Math.floor(rnd() * (size + 4)) - 2;
        const b = a + Math.floor(rnd() * 40);
        tree.add(a, b);
        for (let i = Math.max(0, a); i < Math.min(size, b); i++) plain[i]!++;
        const from = Math.floor(rnd() * size);
        const to = from + 1 + Math.floor(rnd() * 60);
        const limit = 1 + Math.floor(rnd() * 6);
        let atLeast = -1;
        for (let i = from; i < Math.min(size, to); i++) if (plain[i]! >= limit) { atLeast = i; break; }
        let below = size;
        for (let i = from; i < size; i++) if (plain[i]! < limit) { below = i; break; }
        expect(tree.firstAtLeast(from, to, limit), `size ${size} step ${step}`).toBe(atLeast);
        expect(tree.firstBelow(from, limit), `size ${size} step ${step}`).toBe(below);
        expect(tree.at(from)).toBe(plain[from]);
      }
    }
  });
});

describe("KeyedIntervals", () => {
  it("finds where a limit is first reached and when it frees", () => {
    const keys = new KeyedIntervals();
    keys.add("h", { start: 0, end: 30, owner: "a" });
    keys.add("h", { start: 10, end: 50, owner: "b" });
    keys.add("h", { start: 40, end: 60, owner: "c" });
    expect(keys.firstFull("h", 0, 100, 2)).toEqual({ at: 10, freeAt: 30 });
    expect(keys.firstFull("h", 30, 100, 2)).toEqual({ at: 40, freeAt: 50 });
    expect(keys.firstFull("h", 0, 100, 3)).toBeNull();
    expect(keys.firstFull("other", 0, 100, 1)).toBeNull();
    expect(keys.overlapping("h", 30, 40).map((i) => i.owner)).toEqual(["b"]);
  });
});
