import { describe, expect, it } from "vitest";
import { CappedBuffer, capText } from "../../../../agent/maintenance/output-cap.js";

describe("output caps", () => {
  it("keeps short text and cuts long text at the byte limit, never inside a character", () => {
    expect(capText("hello", 10)).toEqual({ text: "hello", truncated: false });
    expect(capText("abcdefghijkl", 10)).toEqual({ text: "abcdefghij", truncated: true });
    // "é" is two bytes; a cut after byte 10 would split the sixth one.
    const cut = capText("aaaaaaaaa" + "é".repeat(3), 10);
    expect(cut).toEqual({ text: "aaaaaaaaa", truncated: true });
    expect(capText("x".repeat(70_000)).text).toHaveLength(64 * 1024);
  });

  it("collects chunks up to the cap and keeps counting past it", () => {
    const buffer = new CappedBuffer(8);
    buffer.push(Buffer.from("1234"));
    buffer.push(Buffer.from("5678"));
    expect(buffer.truncated).toBe(false);
    expect(buffer.text()).toBe("12345678");
    buffer.push(Buffer.from("9"));
    expect(buffer.truncated).toBe(true);
    expect(buffer.text()).toBe("12345678");
    const utf8 = new CappedBuffer(5);
    utf8.push(Buffer.from("abcd€€"));
    expect(utf8.text()).toBe("abcd");
  });
});
