/**
 * The controller's data directory holds the database (host and API token
 * hashes, the whole history) and admin.token: nobody but the controller's user
 * may read them, whatever the directory looked like before the first start.
 */
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CONTROLLER_BIN, startController, type TestController } from "../../helpers/controller.js";

const dirs: string[] = [];
let controller: TestController | null = null;

afterEach(async () => {
  await controller?.stop();
  controller = null;
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDataDir(mode: number): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-datadir-"));
  dirs.push(parent);
  const dir = path.join(parent, "data");
  fs.mkdirSync(dir);
  fs.chmodSync(dir, mode);
  return dir;
}

const modeOf = (file: string): number => fs.statSync(file).mode & 0o777;

describe("controller data directory", () => {
  it("an existing 0755 data directory is tightened to 0700 and the database files are 0600", async () => {
    const dataDir = tempDataDir(0o755);
    controller = await startController({ dataDir });
    expect(modeOf(dataDir)).toBe(0o700);
    for (const name of ["nightshift.db", "nightshift.db-wal", "nightshift.db-shm", "admin.token"]) {
      const file = path.join(dataDir, name);
      if (!fs.existsSync(file)) continue;
      expect({ name, mode: modeOf(file).toString(8) }).toEqual({ name, mode: "600" });
    }
    expect(modeOf(path.join(dataDir, "nightshift.db"))).toBe(0o600);
    expect(controller.logs()).toMatch(/data directory .* was readable by others/);
  });

  it("a database file left world-readable by an earlier start is made 0600", async () => {
    const dataDir = tempDataDir(0o700);
    controller = await startController({ dataDir });
    await controller.stop();
    fs.chmodSync(path.join(dataDir, "nightshift.db"), 0o644);
    controller = await startController({ dataDir });
    expect(modeOf(path.join(dataDir, "nightshift.db"))).toBe(0o600);
  });

  it("an existing admin.token readable by others stops the start, naming the file and the fix", () => {
    const dataDir = tempDataDir(0o700);
    const tokenFile = path.join(dataDir, "admin.token");
    fs.writeFileSync(tokenFile, "nsapi_0123456789abcdef0123456789abcdef\n");
    fs.chmodSync(tokenFile, 0o644);
    const result = spawnSync(process.execPath, [CONTROLLER_BIN, "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
      { encoding: "utf8", timeout: 15_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(tokenFile);
    expect(result.stderr).toContain("chmod 600");
    expect(result.stderr).toContain("(NS_ERR_FILE_MODE)");
    expect(result.stderr).not.toContain("unexpected error");
  });
});

describe("one controller per data directory", () => {
  it("a second controller on the same data directory refuses to start and names the pid holding it", async () => {
    const dataDir = tempDataDir(0o700);
    controller = await startController({ dataDir });
    const result = spawnSync(process.execPath, [CONTROLLER_BIN, "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
      { encoding: "utf8", timeout: 15_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`pid ${controller.process.pid}`);
    expect(result.stderr).toContain(dataDir);
    expect(result.stderr).toContain("(NS_ERR_DATA_DIR_LOCKED)");
    // The first one is unharmed.
    expect((await fetch(`${controller.url}/readyz`)).status).toBe(200);
  });

  it("a controller that was SIGKILLed leaves no lock behind", async () => {
    const dataDir = tempDataDir(0o700);
    controller = await startController({ dataDir });
    controller.process.kill("SIGKILL");
    await new Promise((resolve) => controller!.process.once("exit", resolve));
    controller = await startController({ dataDir });
    expect((await fetch(`${controller.url}/readyz`)).status).toBe(200);
  });
});
