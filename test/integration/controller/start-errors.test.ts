/**
 * A controller that cannot start says why in one line with an NS_ERR code,
 * naming what to fix, and never prints a stack trace.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CONTROLLER_BIN } from "../../helpers/controller.js";

function start(args: string[]) {
  const result = spawnSync(process.execPath, [CONTROLLER_BIN, ...args], { encoding: "utf8", timeout: 15_000 });
  return { status: result.status, stderr: result.stderr };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-start-"));
}

describe("controller start-up errors", () => {
  it.each(["0.0.0.0:99999", "127.0.0.1:65536", "localhost:-1"])("--listen %s: NS_ERR_CONFIG naming the key", (listen) => {
    const dir = tempDir();
    try {
      const { status, stderr } = start(["--data-dir", dir, "--listen", listen]);
      expect(status).toBe(1);
      expect(stderr).toContain("listen");
      expect(stderr).toContain("(NS_ERR_CONFIG)");
      expect(stderr).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a data directory that cannot be created: NS_ERR_STORE naming it", () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, "a-file");
      fs.writeFileSync(file, "");
      const dataDir = path.join(file, "data");
      const { status, stderr } = start(["--data-dir", dataDir, "--listen", "127.0.0.1:0"]);
      expect(status).toBe(1);
      expect(stderr).toContain(dataDir);
      expect(stderr).toContain("(NS_ERR_STORE)");
      expect(stderr).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a data directory mkdir(2) refuses although its parent exists (/proc): NS_ERR_STORE, no hang", () => {
    // Node's recursive mkdir loops forever on this ENOENT; the start must end with the reason instead.
    const { status, stderr } = start(["--data-dir", "/proc/nightshift-data", "--listen", "127.0.0.1:0"]);
    expect(status).toBe(1);
    expect(stderr).toContain("/proc/nightshift-data");
    expect(stderr).toContain("(NS_ERR_STORE)");
    expect(stderr).not.toMatch(/unexpected error|\n\s+at /);
  });
});
