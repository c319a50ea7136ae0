/** The open-file limit as /proc/self/limits states it, and the connection cap made from it. */
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connectionCap, openFileLimit, RESERVED_FDS } from "../../../../controller/http/fd-limit.js";

function limitsFile(openFiles: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-limits-"));
  const file = path.join(dir, "limits");
  fs.writeFileSync(file, [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max processes             95732                95732                processes ",
    `Max open files            ${openFiles} files     `,
    "Max locked memory         8388608              8388608              bytes     ",
  ].join("\n"));
  return file;
}

describe("openFileLimit", () => {
  it("reads the soft limit", () => {
    expect(openFileLimit(limitsFile("1024                 1048576             "))).toBe(1024);
  });
  it("is null when unlimited, unreadable or absent", () => {
    expect(openFileLimit(limitsFile("unlimited            unlimited           "))).toBeNull();
    expect(openFileLimit("/nonexistent/limits")).toBeNull();
  });
  it("reads this process's own", () => {
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe("connectionCap", () => {
  it("is the configured cap when there is one, else the limit less the reserve, at least 16", () => {
    expect(connectionCap(500, 1024)).toBe(500);
    expect(connectionCap(undefined, 1024)).toBe(1024 - RESERVED_FDS);
    expect(connectionCap(undefined, 100)).toBe(16);
    expect(connectionCap(undefined, null)).toBe(65_536);
  });
});
