import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookFileRefusal } from "../../../../agent/maintenance/hook-file.js";

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-hookfile-")); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function script(name: string, mode: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "#!/bin/sh\nexit 0\n");
  fs.chmodSync(file, mode);
  return file;
}

describe("hookFileRefusal", () => {
  const uid = process.getuid!();

  it("accepts an executable file owned by the agent's uid, not writable by others", async () => {
    expect(await hookFileRefusal(script("ok", 0o755))).toBeNull();
    expect(await hookFileRefusal(script("private", 0o700))).toBeNull();
  });

  it("refuses missing, non-regular, non-executable and group- or world-writable files, saying why", async () => {
    expect(await hookFileRefusal(path.join(dir, "missing"))).toMatch(/cannot be found: ENOENT/);
    expect(await hookFileRefusal(dir)).toMatch(/is not a regular file/);
    expect(await hookFileRefusal(script("plain", 0o644))).toMatch(/is not executable \(mode 0644\): chmod 0755 it/);
    expect(await hookFileRefusal(script("world", 0o777))).toMatch(/is group- or world-writable \(mode 0777\).*chmod go-w/);
    expect(await hookFileRefusal(script("group", 0o775))).toMatch(/group- or world-writable \(mode 0775\)/);
  });

  it("refuses a file owned by another user, judged through symlinks", async () => {
    const target = script("target", 0o755);
    const link = path.join(dir, "link");
    fs.symlinkSync(target, link);
    expect(await hookFileRefusal(link)).toBeNull();
    // As an agent running under another uid, a file owned by this one (unless root) is foreign.
    if (uid === 0) {
      fs.chownSync(target, 4242, 4242);
      expect(await hookFileRefusal(link)).toMatch(new RegExp(`${link} \\(-> ${target}\\) is owned by uid 4242, not by root`));
    } else {
      expect(await hookFileRefusal(link, { uid: uid + 1 })).toMatch(/is owned by uid/);
    }
  });

  it("refuses a file in a directory others can write to, unless the directory is sticky", async () => {
    const file = script("in-open-dir", 0o755);
    fs.chmodSync(dir, 0o777);
    expect(await hookFileRefusal(file)).toMatch(new RegExp(`its directory ${dir} is group- or world-writable \\(mode 0777\\)`));
    fs.chmodSync(dir, 0o1777);
    expect(await hookFileRefusal(file)).toBeNull();
  });
});
