/**
 * Properties of the fstab parser (fast-check, fixed seeds, bounded runs):
 * on any text or bytes it returns, never throws, in bounded time, with at
 * most one entry or error per line; escaping round-trips; a well-formed
 * line with any field values (spaces, tabs, newlines, backslashes, '#',
 * NULs, non-ASCII) parses to exactly those fields, and a corrected line
 * built from it parses back to the change.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  escapeFstabField, formatFstabLine, networkServers, parseFstab, parseFstabLine, suggestFstabLineFix, unescapeFstabField,
} from "../../../../agent/probes/fstab-parse.js";
import type { FstabEntry } from "../../../../agent/probes/fstab-types.js";

const SEED = 20_251_203;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

/** Characters that make fstab lines odd: separators, escapes and near-escapes, '#', CR, NUL, non-ASCII. */
const ODD = ["\\", "0", "4", "7", "8", "1", "3", " ", "\t", "\n", "\r", "\0", "#", ",", "=", "/", ":", "a", "é", "\u{1F600}", "\uD800"];
const oddText = (maxLength: number) => fc.array(fc.constantFrom(...ODD), { maxLength }).map((cs) => cs.join(""));
/** Any text: odd characters, any code point, or bytes read as UTF-8 (invalid sequences and all). */
const anyText = fc.oneof(
  oddText(400),
  fc.string({ unit: "binary", maxLength: 400 }),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b).toString("utf8")),
);

function lineCount(text: string): number {
  const lines = text.split("\n");
  return lines[lines.length - 1] === "" ? lines.length - 1 : lines.length;
}

describe("parseFstab on arbitrary input", () => {
  it("never throws; at most one entry or error per line, each with its own line number and raw text", () => {
    fc.assert(fc.property(anyText, (text) => {
      const { entries, errors } = parseFstab(text);
      const lines = text.split("\n");
      const n = lineCount(text);
      expect(entries.length + errors.length).toBeLessThanOrEqual(n);
      const numbers = [...entries, ...errors].map((x) => x.lineNo);
      expect(new Set(numbers).size).toBe(numbers.length);
      for (const x of [...entries, ...errors]) {
        expect(x.lineNo).toBeGreaterThanOrEqual(1);
        expect(x.lineNo).toBeLessThanOrEqual(n);
        expect(lines[x.lineNo - 1]!.replace(/\r$/, "")).toBe(x.raw);
      }
      for (const e of errors) expect(e.reason.length).toBeGreaterThan(0);
    }), runs(400));
  });

  it("handles long lines full of near-escapes in bounded time, with output no larger than the input", () => {
    fc.assert(fc.property(oddText(200).chain((unit) => fc.integer({ min: 1, max: 2000 }).map((k) => unit.replace(/\n/g, " ").repeat(k))), (line) => {
      const started = performance.now();
      const { entries, errors } = parseFstab(line);
      const elapsed = performance.now() - started;
      // 400 kB at most: linear work takes milliseconds; a quadratic slip would take seconds.
      expect(elapsed).toBeLessThan(1_000);
      for (const e of entries) {
        for (const field of [e.source, e.mountPoint, e.fstype, ...e.options]) expect(Buffer.byteLength(field)).toBeLessThanOrEqual(Buffer.byteLength(line));
      }
      expect(entries.length + errors.length).toBeLessThanOrEqual(1);
    }), runs(40));
  });

  it("suggestFstabLineFix never throws, and any fix it offers is a line the parser accepts", () => {
    fc.assert(fc.property(fc.oneof(anyText, fc.array(fc.oneof(oddText(8), fc.constantFrom("ext4", "0", "2", "/srv", "defaults")), { maxLength: 10 }).map((w) => w.join(" "))), (raw) => {
      const fix = suggestFstabLineFix(raw);
      if (fix !== null) expect(parseFstabLine(fix, 1)).not.toHaveProperty("reason");
    }), runs(400));
  });

  it("networkServers never throws and names only non-empty servers taken from the source", () => {
    const fstype = fc.constantFrom("nfs", "nfs4", "cifs", "smb3", "glusterfs", "ceph", "fuse.sshfs", "fuse", "sshfs", "9p", "ext4");
    fc.assert(fc.property(fc.oneof(anyText, oddText(40).map((s) => `sshfs#${s}`), oddText(40).map((s) => `//${s}`), oddText(40).map((s) => `[${s}`)), fstype, (source, type) => {
      const servers = networkServers(source, type);
      for (const s of servers) {
        expect(s.length).toBeGreaterThan(0);
        expect(source).toContain(s);
      }
    }), runs(400));
  });
});

describe("escaping", () => {
  it("unescape(escape(v)) is v for any value, and the escaped field holds no separator, newline or leading '#'", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), oddText(60).map((s) => s.replace(/\uD800/g, ""))), fc.boolean(), (value, first) => {
      const escaped = escapeFstabField(value, first);
      expect(escaped).not.toMatch(/[ \t\n]/);
      if (first) expect(escaped.startsWith("#")).toBe(false);
      expect(unescapeFstabField(escaped)).toBe(value);
    }), runs(500));
  });

  it("unescape never throws and decodes exactly \\NNN with three octal digits (\\040 is a space; \\04, \\8, \\0400 are not all escapes)", () => {
    // Text read from a file as UTF-8 holds no lone surrogate (bad bytes are U+FFFD by then).
    fc.assert(fc.property(oddText(80).map((s) => s.replace(/\uD800/g, "")), (field) => {
      const decoded = unescapeFstabField(field);
      if (!/\\[0-7]{3}/.test(field)) expect(decoded).toBe(field);
      else expect(Buffer.byteLength(decoded)).toBeLessThan(Buffer.byteLength(field));
    }), runs(500));
    expect(unescapeFstabField("/srv/my\\040data")).toBe("/srv/my data");
    expect(unescapeFstabField("a\\04b\\8\\0400")).toBe("a\\04b\\8 0");
  });
});

/** A value for a field: anything with at least one character, odd ones likely. */
const fieldValue = fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 30 }), oddText(30).filter((s) => s.length > 0).map((s) => s.replace(/\uD800/g, "x")));
const separator = fc.array(fc.constantFrom(" ", "\t"), { minLength: 1, maxLength: 4 }).map((s) => s.join(""));
const optionValue = fieldValue.map((s) => s.replace(/,/g, ";"));

interface Line { raw: string; source: string; mountPoint: string; fstype: string; options: string[]; dump: number; pass: number }

const wellFormedLine = fc.record({
  lead: fc.constantFrom("", " ", "\t", "  "),
  source: fieldValue, mountPoint: fieldValue, fstype: fieldValue,
  options: fc.array(optionValue, { minLength: 1, maxLength: 4 }),
  dump: fc.nat(1_000_000), pass: fc.nat(9),
  seps: fc.array(separator, { minLength: 5, maxLength: 5 }),
  tail: fc.constantFrom("", " ", "\t# after pass", " x y"),
}).map(({ lead, source, mountPoint, fstype, options, dump, pass, seps, tail }): Line => {
  const fields = [escapeFstabField(source, true), escapeFstabField(mountPoint), escapeFstabField(fstype), escapeFstabField(options.join(",")), String(dump), String(pass)];
  const raw = lead + fields.map((f, i) => f + (i < 5 ? seps[i] : "")).join("") + tail;
  return { raw, source, mountPoint, fstype, options, dump, pass };
});

describe("a well-formed line", () => {
  it("parses to exactly the fields it was written from", () => {
    fc.assert(fc.property(wellFormedLine, fc.constantFrom("\n", "\r\n", ""), (line, end) => {
      const { entries, errors } = parseFstab(`# header\n${line.raw}${end}`);
      expect(errors).toEqual([]);
      expect(entries).toHaveLength(1);
      const e = entries[0]!;
      expect([e.lineNo, e.raw, e.source, e.mountPoint, e.fstype, e.options, e.dump, e.pass])
        .toEqual([2, line.raw, line.source, line.mountPoint, line.fstype, line.options, line.dump, line.pass]);
    }), runs(400));
  });

  it("formatFstabLine without a change gives the line back; with new options, a line that parses to them and the same other fields", () => {
    fc.assert(fc.property(wellFormedLine, fc.array(optionValue, { minLength: 1, maxLength: 4 }), (line, options) => {
      const e = parseFstabLine(line.raw, 1) as FstabEntry;
      expect(formatFstabLine(e)).toBe(line.raw.replace(/[ \t]+$/, ""));
      const changed = parseFstabLine(formatFstabLine(e, options), 1) as FstabEntry;
      expect([changed.source, changed.mountPoint, changed.fstype, changed.options, changed.dump, changed.pass])
        .toEqual([line.source, line.mountPoint, line.fstype, options, line.dump, line.pass]);
      const moved = parseFstabLine(formatFstabLine(e, { source: line.mountPoint, mountPoint: line.source }), 1) as FstabEntry;
      expect([moved.source, moved.mountPoint, moved.options]).toEqual([line.mountPoint, line.source, line.options]);
    }), runs(300));
  });
});
