import { describe, expect, it } from "vitest";
import { XdrError, XdrReader, XdrWriter } from "../../../../agent/libvirt/xdr.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("XdrWriter", () => {
  it("encodes integers big-endian, 4 bytes each, hypers as 8", () => {
    const w = new XdrWriter(2);
    w.int(-2).uint(0xdeadbeef).hyper(-1n).uhyper(9000000).bool(true);
    expect(w.toBuffer().toString("hex")).toBe(
      "fffffffe" + "deadbeef" + "ffffffffffffffff" + "0000000000895440" + "00000001");
  });

  it("pads strings and variable opaque data to 4 bytes after a length word", () => {
    const w = new XdrWriter();
    w.string("test:///default").opaque(Buffer.from([1, 2]));
    expect(w.toBuffer()).toEqual(hex(`
      0000000f 74657374 3a2f2f2f 64656661 756c7400
      00000002 01020000`));
  });

  it("writes fixed opaque data without a length word", () => {
    const w = new XdrWriter();
    w.fixedOpaque(hex("00112233445566778899aabbccddeeff"), 16);
    expect(w.toBuffer()).toEqual(hex("00112233445566778899aabbccddeeff"));
    expect(() => new XdrWriter().fixedOpaque(Buffer.alloc(3), 16)).toThrow(XdrError);
  });

  it("encodes optionals as a boolean then the value, arrays as a count then items", () => {
    const w = new XdrWriter();
    w.optional(null, (x, v: number) => x.int(v)).optional(7, (x, v) => x.int(v)).array([1, 2], (x, v) => x.int(v));
    expect(w.toBuffer()).toEqual(hex("00000000 00000001 00000007 00000002 00000001 00000002"));
  });

  it("refuses values that do not fit their type or limit", () => {
    expect(() => new XdrWriter().int(2 ** 31)).toThrow(/out of range/);
    expect(() => new XdrWriter().uint(-1)).toThrow(/out of range/);
    expect(() => new XdrWriter().int(1.5)).toThrow(/out of range/);
    expect(() => new XdrWriter().string("abcdef", 5)).toThrow(/exceeds limit 5/);
  });
});

describe("XdrReader", () => {
  it("decodes what the writer encoded", () => {
    const w = new XdrWriter();
    w.int(-5).uint(4_000_000_000).hyper(-3n).uhyper(2n ** 63n).string("héllo").opaque(Buffer.from("xyz"))
      .optional("a", (x, v) => x.string(v)).optional(null, (x, v: string) => x.string(v))
      .array(["p", "qq"], (x, v) => x.string(v)).bool(false);
    const r = new XdrReader(w.toBuffer());
    expect(r.int()).toBe(-5);
    expect(r.uint()).toBe(4_000_000_000);
    expect(r.hyper()).toBe(-3n);
    expect(r.uhyper()).toBe(2n ** 63n);
    expect(r.string()).toBe("héllo");
    expect(r.opaque().toString()).toBe("xyz");
    expect(r.optional((x) => x.string())).toBe("a");
    expect(r.optional((x) => x.string())).toBeNull();
    expect(r.array((x) => x.string())).toEqual(["p", "qq"]);
    expect(r.bool()).toBe(false);
    expect(() => r.end()).not.toThrow();
  });

  it("reports truncated input with the offset instead of reading garbage", () => {
    const r = new XdrReader(hex("00000010 6162"));
    expect(() => r.string()).toThrow(/truncated XDR: opaque\[16\] needs 16 bytes at offset 4, only 2 left/);
  });

  it("rejects invalid booleans, oversized lengths and trailing bytes", () => {
    expect(() => new XdrReader(hex("00000002")).bool()).toThrow(/invalid XDR bool 2/);
    expect(() => new XdrReader(hex("00000009")).string(8)).toThrow(/exceeds limit 8/);
    expect(() => new XdrReader(hex("7fffffff")).array((x) => x.int())).toThrow(/larger than the 0 bytes left/);
    const r = new XdrReader(hex("00000001 00000002"));
    r.int();
    expect(() => r.end()).toThrow(/4 unexpected trailing bytes/);
  });

  it("converts unsigned hypers to numbers only when exact", () => {
    expect(new XdrReader(hex("0000000000300000")).uhyperNumber()).toBe(3145728);
    expect(() => new XdrReader(hex("ffffffffffffffff")).uhyperNumber()).toThrow(/safe integer/);
  });
});
