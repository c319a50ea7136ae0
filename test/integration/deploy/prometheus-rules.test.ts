/** The shipped alert rules pass `promtool check rules` and their own `promtool test rules` unit tests. */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../../helpers/run.js";

const DIR = path.join(REPO_ROOT, "deploy/prometheus");

function promtool(args: string[], cwd = DIR) {
  const result = spawnSync("promtool", args, { cwd, encoding: "utf8" });
  expect(result.error, "promtool must be installed (Debian package prometheus)").toBeUndefined();
  return result;
}

describe("alerting rules", () => {
  it("pass promtool check rules", () => {
    const result = promtool(["check", "rules", "nightshift.rules.yml"]);
    expect(result.stdout).toMatch(/SUCCESS: 13 rules found/);
    expect(result.status).toBe(0);
  });

  it("pass their promtool unit tests", () => {
    const result = promtool(["test", "rules", "nightshift.rules.test.yml"]);
    expect(result.stdout + result.stderr).toMatch(/SUCCESS/);
    expect(result.status).toBe(0);
  });

  it("the unit tests can fail: a rule with a changed threshold breaks them", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-rules-"));
    try {
      const rules = fs.readFileSync(path.join(DIR, "nightshift.rules.yml"), "utf8").replace("for: 2m", "for: 10m");
      fs.writeFileSync(path.join(tmp, "nightshift.rules.yml"), rules);
      fs.copyFileSync(path.join(DIR, "nightshift.rules.test.yml"), path.join(tmp, "nightshift.rules.test.yml"));
      const result = promtool(["test", "rules", "nightshift.rules.test.yml"], tmp);
      expect(result.status).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/NightshiftMountHung/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
