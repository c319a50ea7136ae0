/**
 * The units in systemd/ as systemd itself reads them: `systemd-analyze verify`
 * (Debian package `systemd`; works without systemd as PID 1).
 *
 * What verify does and does not check (systemd 252), which shapes this test:
 * - Unknown keys and unparsable values are only warnings: the exit status
 *   stays 0. So a unit passes only with exit 0 and no output at all.
 * - Only ExecStart's executable must exist, not its arguments. The copies
 *   under test run process.execPath on this checkout's dist/, so they hold on
 *   machines where node is not /usr/bin/node; the script paths are checked here.
 * - Units named in Wants=/After= that do not exist are ignored; a missing
 *   Requires= unit is an error. Errors in dependencies loaded from the host
 *   count too (--recursive-errors=yes, the default).
 * `systemd-analyze security --offline` adds an exposure score, so weakening
 * the sandbox fails here too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../../helpers/run.js";

const UNITS_DIR = path.join(REPO_ROOT, "systemd");
const INSTALL_PREFIX = "/opt/nightshift";
let tmp: string;

interface Result {
  code: number;
  output: string;
}

function systemdAnalyze(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile("systemd-analyze", args, { timeout: 30_000, env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "", ...env } },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new Error("systemd-analyze not found: install the Debian package systemd (scripts/setup.sh)"));
          return;
        }
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: stdout + stderr });
      });
  });
}

/** A copy of a unit pointing at this machine's node and this checkout's dist/, optionally edited. */
function unitCopy(name: string, edit: (text: string) => string = (t) => t, dir = tmp): string {
  const original = fs.readFileSync(path.join(UNITS_DIR, name), "utf8");
  const text = edit(original.replaceAll("/usr/bin/node ", `${process.execPath} `).replaceAll(`${INSTALL_PREFIX}/`, `${REPO_ROOT}/`));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function execStart(file: string): string[] {
  const line = fs.readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("ExecStart="));
  expect(line, `${file} has no ExecStart=`).toBeDefined();
  return line!.slice("ExecStart=".length).split(/\s+/);
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-units-"));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each([
  { unit: "nightshift-agent.service", script: "dist/agent/cli/main.js", maxExposure: 30 },
  { unit: "nightshift-controller.service", script: "dist/controller/cli/main.js", maxExposure: 20 },
])("$unit", ({ unit, script, maxExposure }) => {
  it("runs /usr/bin/node on the built script under /opt/nightshift", () => {
    const [binary, target] = execStart(path.join(UNITS_DIR, unit));
    expect(binary).toBe("/usr/bin/node");
    expect(target).toBe(`${INSTALL_PREFIX}/${script}`);
    expect(fs.existsSync(path.join(REPO_ROOT, script)), `${script} missing: run npm run build`).toBe(true);
  });

  it("passes systemd-analyze verify without a single warning", async () => {
    const result = await systemdAnalyze(["verify", unitCopy(unit)]);
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  });

  it(`keeps systemd-analyze security's exposure at most ${maxExposure / 10}`, async () => {
    const result = await systemdAnalyze(["security", "--offline=true", `--threshold=${maxExposure}`, unitCopy(unit)]);
    expect(result.code, result.output).toBe(0);
  });
});

describe("nightshift-emergency-report.service", () => {
  const unit = "nightshift-emergency-report.service";
  it("runs the report script under /opt/nightshift, an executable POSIX sh script", async () => {
    const [binary] = execStart(path.join(UNITS_DIR, unit));
    expect(binary).toBe(`${INSTALL_PREFIX}/systemd/nightshift-emergency-report`);
    const script = path.join(UNITS_DIR, "nightshift-emergency-report");
    expect(fs.statSync(script).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(script, "utf8").split("\n")[0]).toBe("#!/bin/sh");
    const syntax = await new Promise<number>((resolve) => execFile("sh", ["-n", script], (err) => resolve(err ? 1 : 0)));
    expect(syntax).toBe(0);
  });

  it("passes systemd-analyze verify without a single warning", async () => {
    const result = await systemdAnalyze(["verify", unitCopy(unit)]);
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  });

  it("has no default dependencies (emergency mode runs no sysinit.target) and is wanted by emergency and rescue", () => {
    const text = fs.readFileSync(path.join(UNITS_DIR, unit), "utf8");
    expect(text).toMatch(/^DefaultDependencies=no$/m);
    expect(text).toMatch(/^WantedBy=emergency\.target rescue\.target$/m);
  });
});

describe("the agent unit's settings that the agent relies on", () => {
  const text = () => fs.readFileSync(path.join(UNITS_DIR, "nightshift-agent.service"), "utf8");
  const settings = () => new Map(text().split("\n").filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => {
    const i = l.indexOf("=");
    return [l.slice(0, i), l.slice(i + 1)] as const;
  }));
  const all = (key: string) => text().split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

  it("is Type=notify with NotifyAccess=all (systemd-notify is a child) and a 60 s watchdog", () => {
    const s = settings();
    expect(s.get("Type")).toBe("notify");
    expect(s.get("NotifyAccess")).toBe("all");
    expect(s.get("WatchdogSec")).toBe("60");
    expect(s.get("Restart")).toBe("on-failure");
    expect(s.get("StateDirectory")).toBe("nightshift-agent");
    expect(s.get("ExecStart")).toBe("/usr/bin/node /opt/nightshift/dist/agent/cli/main.js run --config /etc/nightshift/agent.yaml");
  });

  it("keeps CAP_SYS_ADMIN, which systemd-notify needs to send its parent's PID", () => {
    expect(settings().get("CapabilityBoundingSet")).toBe("CAP_SYS_ADMIN");
  });

  it("lets the agent write libvirt's default image directory (disk-only overlays are removed and merged by the agent), if there is one", () => {
    expect(settings().get("ProtectSystem")).toBe("strict");
    expect(all("ReadWritePaths")).toContain("-/var/lib/libvirt/images");
  });

  it("lets the agent write netconsole's options for the next boot, and nothing else in /etc", () => {
    expect(all("ReadWritePaths")).toEqual(["-/var/lib/libvirt/images", "-/etc/modprobe.d"]);
  });

  it("takes the documented drop-in for images elsewhere (ReadWritePaths=/srv/vmstore) without a warning", async () => {
    const dir = path.join(tmp, "drop-in");
    const file = unitCopy("nightshift-agent.service", (t) => t, dir);
    fs.mkdirSync(`${file}.d`, { recursive: true });
    fs.writeFileSync(path.join(`${file}.d`, "override.conf"), "[Service]\nReadWritePaths=/srv/vmstore\n");
    // Drop-ins are looked up in the unit path: the copy's directory first.
    const result = await systemdAnalyze(["verify", file], { SYSTEMD_UNIT_PATH: `${dir}:` });
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
    // The drop-in is read: a typo in it is reported.
    fs.writeFileSync(path.join(`${file}.d`, "override.conf"), "[Service]\nReadWritePath=/srv/vmstore\n");
    const typo = await systemdAnalyze(["verify", file], { SYSTEMD_UNIT_PATH: `${dir}:` });
    expect(typo.output).toContain("Unknown key 'ReadWritePath' in section [Service]");
  });
});

describe("verify catches broken units (so the checks above can fail)", () => {
  it("reports a misspelled directive", async () => {
    const file = unitCopy("nightshift-agent.service", (t) => t.replace(/^Type=notify$/m, "Tpye=notify"), path.join(tmp, "typo"));
    const result = await systemdAnalyze(["verify", file]);
    expect(result.output).toContain("Unknown key 'Tpye' in section [Service]");
  });

  it("reports a value it cannot parse", async () => {
    const file = unitCopy("nightshift-controller.service", (t) => t.replace(/^Restart=on-failure$/m, "Restart=sometimes"),
      path.join(tmp, "value"));
    const result = await systemdAnalyze(["verify", file]);
    expect(result.output).toMatch(/Failed to parse service restart specifier.*sometimes/);
  });

  it("fails when the ExecStart binary does not exist", async () => {
    const file = unitCopy("nightshift-agent.service", (t) => t.replaceAll(process.execPath, "/nonexistent/node"),
      path.join(tmp, "binary"));
    const result = await systemdAnalyze(["verify", file]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("/nonexistent/node is not executable");
  });

  it("fails on a required unit that does not exist (Wants= of a missing unit is fine)", async () => {
    const file = unitCopy("nightshift-agent.service", (t) => t.replace(/^Wants=(.*)$/m, "Wants=$1\nRequires=nightshift-no-such.service"),
      path.join(tmp, "requires"));
    const result = await systemdAnalyze(["verify", file]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("nightshift-no-such.service not found");
  });

  it("scores an unsandboxed copy above the exposure threshold", async () => {
    const file = unitCopy("nightshift-controller.service",
      (t) => t.split("# --- Sandbox ---")[0]!.replace(/^(DynamicUser|User|Group)=.*$/gm, "") + "\n[Install]\nWantedBy=multi-user.target\n",
      path.join(tmp, "bare"));
    const result = await systemdAnalyze(["security", "--offline=true", "--threshold=20", file]);
    expect(result.code).not.toBe(0);
  });
});
