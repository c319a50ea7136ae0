/**
 * The controller's configuration as an operator meets it: a real controller
 * process with a misspelt or renamed key does not start and says which key in
 * which file; `nightshift-controller check-config` prints what it would run
 * with, or every problem.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { CONTROLLER_BIN, startController, type TestController } from "../../helpers/controller.js";

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-controller-config-")); });
let controller: TestController | undefined;
afterEach(async () => {
  await controller?.stop();
  controller = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The binary with only the variables given among NIGHTSHIFT_CONTROLLER_*. */
function run(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NIGHTSHIFT_CONTROLLER_")));
  const result = spawnSync(process.execPath, [CONTROLLER_BIN, ...args], { encoding: "utf8", timeout: 15_000, env: { ...clean, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe("a controller started with a misspelt key", () => {
  it("exits 1 before listening, naming the key, the file and line, and the key it was meant to be", () => {
    const config = file("controller.yaml", "listn: 127.0.0.1:0\nliveness:\n  missingAfter: 90s\n");
    const dataDir = path.join(dir, "data");
    const result = run(["--config", config, "--data-dir", dataDir]);
    expect(result.status).toBe(1);
    expect(result.stdout).not.toContain("listening");
    expect(result.stderr).toBe(`nightshift-controller: invalid configuration (file ${config}, flags):\n` +
      `  ${config}:1: listn: unknown key "listn" (did you mean listen?); known keys: listen, dataDir, store, tls, http, adminToken, netconsole, ` +
      "liveness, agents, runs, retention, notifications, plans, log\n" +
      "Keys, defaults and variables: docs/configuration.md; nightshift-controller check-config prints the effective configuration (NS_ERR_CONFIG)\n");
    // Nothing was started: no database, no admin token.
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it("an old key name says what it became; a bare number is no duration; an unknown variable is refused", () => {
    const config = file("controller.yaml", "agents:\n  heartbeatSeconds: 15\nruns:\n  agentLostTimeout: 120\n");
    const result = run(["--config", config, "--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "data")],
      { NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTR: "90s" });
    expect(result.status).toBe(1);
    expect(result.stderr.split("\n").slice(1, 4)).toEqual([
      "  NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTR: unknown variable (did you mean NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER?): " +
        "every NIGHTSHIFT_CONTROLLER_* variable must name a configuration key (see docs/configuration.md)",
      `  ${config}:2: agents.heartbeatSeconds: renamed heartbeat (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write heartbeat: 15s`,
      `  ${config}:4: runs.agentLostTimeout: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 120`,
    ]);
  });
});

describe("nightshift-controller check-config", () => {
  it("prints the effective configuration: defaults, the file, variables and flags, the admin token masked", () => {
    const config = file("controller.yaml", "adminToken: 0123456789abcdef0123456789\nagents:\n  heartbeat: 5s\n");
    const result = run(["check-config", "--config", config, "--listen", "0.0.0.0:9000"], { NIGHTSHIFT_CONTROLLER_PLANS_TICK: "2s" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain("0123456789abcdef");
    const effective = parseYaml(result.stdout) as Record<string, Record<string, unknown>>;
    expect(effective).toMatchObject({
      listen: "0.0.0.0:9000", dataDir: "/var/lib/nightshift", adminToken: "********",
      agents: { heartbeat: "5s", inventoryInterval: "5m", maxMessageBytes: 4194304 },
      liveness: { missingAfter: "90s", checkInterval: "5s" },
      plans: { tick: "2s", reminder: "1d" },
      log: { level: "info" },
    });
    expect(result.stdout).toMatch(/^# nightshift-controller: the effective configuration/);
  });

  it("exits 1 with every problem on a bad file, and names a file that is not there", () => {
    const config = file("controller.yaml", "store:\n  synchronus: full\nlisten: nowhere\n");
    const bad = run(["check-config", "--config", config]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain(`${config}:2: store.synchronus: unknown key "synchronus" (did you mean synchronous?)`);
    expect(bad.stderr).toContain(`${config}:3: listen: expected ADDR:PORT, e.g. 0.0.0.0:8650, got "nowhere"`);
    expect(bad.stderr).toMatch(/\(NS_ERR_CONFIG\)\n$/);
    const missing = run(["check-config", "--config", path.join(dir, "nope.yaml")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`nightshift-controller: cannot read configuration file ${path.join(dir, "nope.yaml")}: no such file (NS_ERR_CONFIG)\n`);
  });

  it("what it prints starts the controller with the same configuration", async () => {
    const config = file("controller.yaml", "liveness:\n  missingAfter: 2m\nplans:\n  reminder: 0s\n");
    const printed = run(["check-config", "--config", config]);
    expect(printed.status).toBe(0);
    const effective = parseYaml(printed.stdout) as Record<string, unknown>;
    delete effective.listen;
    delete effective.dataDir;
    controller = await startController({ config: effective });
    const again = run(["check-config", "--config", path.join(controller.dataDir, "controller.yaml"), "--listen", "127.0.0.1:8650",
      "--data-dir", "/var/lib/nightshift"]);
    expect(again.stdout).toBe(printed.stdout);
  });
});
