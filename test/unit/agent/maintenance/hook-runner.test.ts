import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runHook } from "../../../../agent/maintenance/hook-runner.js";
import { StepError } from "../../../../agent/maintenance/errors.js";

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-hookrun-")); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function script(body: string): string {
  const file = path.join(dir, "hook");
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** Running, not a zombie: an orphan's zombie lingers until init reaps it, which some init processes never do. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("runHook", () => {
  it("passes the VM as argument and in the environment, with the run id, and returns exit code and output", async () => {
    process.env.NIGHTSHIFT_TEST_SECRET = "agent-only";
    const file = script('echo "arg=$1 vm=$NIGHTSHIFT_VM run=$NIGHTSHIFT_RUN_ID secret=${NIGHTSHIFT_TEST_SECRET:-none}"; echo oops >&2; exit 4');
    const out = await runHook({ path: file, vm: "web1", runId: "run-7", timeoutMs: 5_000 });
    delete process.env.NIGHTSHIFT_TEST_SECRET;
    expect(out).toMatchObject({ exitCode: 4, signal: null, stdout: "arg=web1 vm=web1 run=run-7 secret=none\n", stderr: "oops\n", truncated: false });
    expect(out.durationMs).toBeGreaterThan(0);
  });

  it("cuts output at 64 KiB per stream and says so", async () => {
    const out = await runHook({ path: script("head -c 100000 /dev/zero | tr '\\\\0' a"), vm: "v", runId: "r", timeoutMs: 5_000 });
    expect(out.stdout).toHaveLength(64 * 1024);
    expect(out.truncated).toBe(true);
  });

  it("kills the whole process group at the timeout and reports the output so far", async () => {
    const pidFile = path.join(dir, "child.pid");
    const file = script(`echo started; sleep 30 & echo $! > ${pidFile}; wait`);
    const t0 = Date.now();
    const err = await runHook({ path: file, vm: "web1", runId: "r", timeoutMs: 500 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).code).toBe("NS_ERR_STEP_TIMEOUT");
    expect((err as StepError).message).toMatch(/hook .* for VM web1 did not finish within 500 ms.*stdout "started\\n"/);
    const childPid = Number(fs.readFileSync(pidFile, "utf8"));
    expect(childPid).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(childPid)).toBe(false);
  });

  it("fails with the reason when the hook cannot be started", async () => {
    const file = path.join(dir, "noexec");
    fs.writeFileSync(file, "no shebang", { mode: 0o644 });
    await expect(runHook({ path: file, vm: "v", runId: "r", timeoutMs: 1_000 })).rejects.toThrow(/could not be started: .*EACCES/);
  });
});
