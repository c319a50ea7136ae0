/**
 * Properties of the mountinfo parser (fast-check, fixed seeds, bounded runs):
 * on any text or bytes it returns, never throws, in bounded time, with at
 * most one entry or error per line; a line written the way the kernel writes
 * it (octal escapes for space, tab, newline and backslash, optional fields,
 * an empty source) parses to exactly its fields.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMountInfo, topMounts, unescapeMountField } from "../../../../agent/probes/mountinfo.js";

const SEED = 20_251_204;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const ODD = ["\\", "0", "4", "7", "8", "1", " ", "  ", "\t", "\n", "\r", "\0", "-", " - ", ":", ",", "/", "a", "é", "\u{1F600}", "\uD800"];
const oddText = (maxLength: number) => fc.array(fc.constantFrom(...ODD), { maxLength }).map((cs) => cs.join(""));
/** Lines that look nearly right: numbers, a dash, a few fields, odd characters in between. */
const nearLine = fc.array(fc.oneof(fc.nat(300).map(String), fc.constantFrom("-", "8:1", "/", "/mnt/x", "rw", "ext4", "shared:1", ""), oddText(6)), { maxLength: 14 })
  .map((fields) => fields.join(" "));
const anyText = fc.oneof(
  oddText(400),
  fc.array(nearLine, { maxLength: 20 }).map((lines) => lines.join("\n")),
  fc.string({ unit: "binary", maxLength: 400 }),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b).toString("utf8")),
);

describe("parseMountInfo on arbitrary input", () => {
  it("never throws; at most one entry or error per line, with line numbers in range and absolute mount points", () => {
    fc.assert(fc.property(anyText, (text) => {
      const { entries, errors } = parseMountInfo(text);
      const n = text.split("\n").length;
      expect(entries.length + errors.length).toBeLessThanOrEqual(n);
      for (const x of [...entries, ...errors]) {
        expect(x.lineNo).toBeGreaterThanOrEqual(1);
        expect(x.lineNo).toBeLessThanOrEqual(n);
      }
      for (const e of entries) {
        expect(e.mountPoint.startsWith("/")).toBe(true);
        expect(e.fstype.length).toBeGreaterThan(0);
        expect(Number.isInteger(e.mountId) && Number.isInteger(e.major)).toBe(true);
      }
      // Whatever was parsed, choosing the top mounts works on it.
      expect(topMounts(entries).size).toBeLessThanOrEqual(entries.length);
    }), runs(400));
  });

  it("handles long lines in bounded time", () => {
    fc.assert(fc.property(nearLine, fc.integer({ min: 1, max: 3000 }), (unit, k) => {
      const line = `36 35 98:0 / /mnt ${unit.replace(/\n/g, " ").repeat(k)} - ext4 /dev/x rw`;
      const started = performance.now();
      const { entries, errors } = parseMountInfo(line);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(entries.length + errors.length).toBe(1);
    }), runs(40));
  });

  it("unescapeMountField never throws, decodes only \\NNN, and leaves text without a backslash as it is", () => {
    fc.assert(fc.property(fc.oneof(oddText(80), fc.string({ unit: "binary", maxLength: 80 })), (field) => {
      const decoded = unescapeMountField(field);
      if (!field.includes("\\")) expect(decoded).toBe(field);
      expect(decoded.length).toBeLessThanOrEqual(field.length);
    }), runs(500));
    expect(unescapeMountField("/mnt/my\\040share\\134x\\04\\8")).toBe("/mnt/my share\\x\\04\\8");
  });
});

/** The kernel's escaping in paths, the type and the source (fs/proc_namespace.c, mangle()). */
const mangle = (s: string) => s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
/** Path-like values with every character the kernel escapes, and then some (no lone surrogates: the kernel writes bytes). */
const value = (minLength: number) => fc.oneof(
  fc.string({ unit: "binary", minLength, maxLength: 20 }),
  oddText(20).map((s) => s.replace(/\uD800/g, "x")).filter((s) => s.length >= minLength),
);
const option = fc.stringMatching(/^[a-z][a-z0-9_.=-]{0,12}$/);

const kernelLine = fc.record({
  mountId: fc.nat(100_000), parentId: fc.nat(100_000), major: fc.nat(4095), minor: fc.nat(1_048_575),
  root: value(0).map((s) => `/${s}`), mountPoint: value(0).map((s) => `/${s}`),
  mountOptions: fc.array(option, { minLength: 1, maxLength: 5 }),
  optional: fc.array(fc.tuple(fc.constantFrom("shared", "master", "propagate_from", "unbindable"), fc.option(fc.nat(999))), { maxLength: 3 }),
  fstype: value(1), source: value(0), superOptions: fc.array(option, { maxLength: 5 }),
});

describe("a line as the kernel writes it", () => {
  it("parses to exactly its fields", () => {
    fc.assert(fc.property(kernelLine, fc.array(fc.constantFrom("", "\n"), { maxLength: 2 }), (m, blank) => {
      const optional = m.optional.map(([tag, v]) => (v === null ? tag : `${tag}:${v}`));
      const line = [String(m.mountId), String(m.parentId), `${m.major}:${m.minor}`, mangle(m.root), mangle(m.mountPoint), m.mountOptions.join(","),
        ...optional, "-", mangle(m.fstype), mangle(m.source), m.superOptions.join(",")].join(" ");
      const { entries, errors } = parseMountInfo(`${blank.join("")}${line}\n`);
      expect(errors).toEqual([]);
      expect(entries).toEqual([{
        lineNo: blank.filter((b) => b === "\n").length + 1,
        mountId: m.mountId, parentId: m.parentId, major: m.major, minor: m.minor, root: m.root, mountPoint: m.mountPoint,
        mountOptions: m.mountOptions, optionalFields: m.optional.map(([tag, v]) => ({ tag, value: v === null ? null : String(v) })),
        fstype: m.fstype, source: m.source, superOptions: m.superOptions,
      }]);
    }), runs(400));
  });
});
