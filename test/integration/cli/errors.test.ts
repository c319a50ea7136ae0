/**
 * Failures as an operator meets them, through the real binary: a wrong token,
 * a controller that is down, nothing configured, usage errors (exit 2), and
 * the settings sources in their order of precedence.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startController, type TestController } from "../../helpers/controller.js";
import { runAgainst, runCli } from "./run-cli.js";

let controller: TestController;
let dir: string;

beforeAll(async () => {
  controller = await startController();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-cli-errors-"));
});

afterAll(async () => {
  await controller?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("controller errors", () => {
  it("a wrong token: exit 1, says the token was refused, from where, and where the admin token is", async () => {
    const result = await runAgainst(controller, ["hosts"], { NIGHTSHIFT_TOKEN: "nsa_wrong" });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`nightshift: the controller at ${controller.url} refused the API token from $NIGHTSHIFT_TOKEN: ` +
      "use the admin token from the controller's data directory (DATA_DIR/admin.token, /var/lib/nightshift/admin.token by default) " +
      "via --token, NIGHTSHIFT_TOKEN or tokenFile in cli.yaml (NS_ERR_UNAUTHORIZED)\n");
  });

  it("a host token is not an API token", async () => {
    const enrolled = await runAgainst(controller, ["hosts", "enroll", "tokentest"]);
    const result = await runAgainst(controller, ["status"], { NIGHTSHIFT_TOKEN: enrolled.stdout.trim() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("(NS_ERR_UNAUTHORIZED)");
  });

  it("a controller that is down: exit 1, names the URL", async () => {
    const down = await startController();
    const url = down.url;
    await down.stop();
    // The helper's stop(): process gone, data directory removed, a second stop() harmless.
    expect(down.process.exitCode !== null || down.process.signalCode !== null).toBe(true);
    expect(fs.existsSync(down.dataDir)).toBe(false);
    await down.stop();
    for (const args of [["hosts"], ["vms"], ["events"], ["status"], ["hosts", "enroll", "x"], ["hosts", "revoke", "x"]]) {
      const result = await runCli(args, { NIGHTSHIFT_URL: url, NIGHTSHIFT_TOKEN: "nsa_any" });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`nightshift: cannot reach the controller at ${url}: connection refused ` +
        "(is nightshift-controller running and listening there?) (NS_ERR_CONTROLLER_UNREACHABLE)\n");
    }
  });

  it("a URL that is not a controller: exit 1, says so", async () => {
    const result = await runAgainst(controller, ["hosts"], { NIGHTSHIFT_URL: `${controller.url}/not-here` });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("nightshift: no such endpoint: /not-here/v1/hosts (NS_ERR_NOT_FOUND)\n");
  });
});

describe("settings", () => {
  it("nothing configured: exit 1, lists every source tried", async () => {
    const result = await runCli(["hosts"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^nightshift: no controller URL: tried --url, \$NIGHTSHIFT_URL and the config file \S+\/nightshift\/cli\.yaml \(not found\)\. /);
    expect(result.stderr).toMatch(/\(NS_ERR_CLI_SETTINGS\)\n$/);
  });

  it("a URL but no token: names the token sources and the admin token file", async () => {
    const result = await runCli(["hosts"], { NIGHTSHIFT_URL: controller.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no API token: tried --token, $NIGHTSHIFT_TOKEN and the config file");
    expect(result.stderr).toContain("/var/lib/nightshift/admin.token");
  });

  it("flag > environment > config file, for URL and token each", async () => {
    const tokenFile = path.join(dir, "admin.token");
    fs.writeFileSync(tokenFile, controller.adminToken + "\n", { mode: 0o600 });
    const good = path.join(dir, "good.yaml");
    fs.writeFileSync(good, `url: ${controller.url}\ntokenFile: admin.token\n`);
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, "url: http://127.0.0.1:2\ntoken: nsa_from_file\n");
    const wrongEnv = { NIGHTSHIFT_URL: "http://127.0.0.1:2", NIGHTSHIFT_TOKEN: "nsa_from_env" };

    // The config file alone works (tokenFile relative to the file).
    expect((await runCli(["status", "--config", good])).code).toBe(0);
    // The environment beats the file: its wrong URL is used.
    const envWins = await runCli(["status", "--config", good], wrongEnv);
    expect(envWins.code).toBe(1);
    expect(envWins.stderr).toContain("http://127.0.0.1:2");
    // Flags beat the environment (and the file).
    expect((await runCli(["status", "--config", bad, "--url", controller.url, "--token", controller.adminToken], wrongEnv)).code).toBe(0);
    // Per key: URL from the flag, token from the environment, which is wrong.
    const tokenFromEnv = await runCli(["status", "--config", good, "--url", controller.url], wrongEnv);
    expect(tokenFromEnv.stderr).toContain("refused the API token from $NIGHTSHIFT_TOKEN");
    // Global options work before and after the command.
    expect((await runCli(["--url", controller.url, "--token", controller.adminToken, "hosts"])).code).toBe(0);
  });

  it("a token file others can read: the command runs, with a warning naming the file and the fix", async () => {
    const tokenFile = path.join(dir, "exposed.token");
    fs.writeFileSync(tokenFile, controller.adminToken + "\n");
    fs.chmodSync(tokenFile, 0o644);
    const config = path.join(dir, "exposed.yaml");
    fs.writeFileSync(config, `url: ${controller.url}\ntokenFile: exposed.token\n`);
    const result = await runCli(["status", "--config", config]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`nightshift: warning: the token file ${tokenFile} is readable or writable by others (mode 0644)`);
    expect(result.stderr).toContain(`chmod 600 ${tokenFile}`);
    fs.chmodSync(tokenFile, 0o600);
    expect((await runCli(["status", "--config", config])).stderr).toBe("");
  });

  it("the default config file under $XDG_CONFIG_HOME", async () => {
    const xdg = path.join(dir, "xdg");
    fs.mkdirSync(path.join(xdg, "nightshift"), { recursive: true });
    fs.writeFileSync(path.join(xdg, "nightshift", "cli.yaml"), `url: ${controller.url}\ntoken: ${controller.adminToken}\n`);
    const result = await runCli(["hosts", "--json"], { XDG_CONFIG_HOME: xdg });
    expect(result.code, result.stderr).toBe(0);
  });

  it("a missing --config file and a config typo are errors, not silently ignored", async () => {
    const missing = await runCli(["hosts", "--config", path.join(dir, "nope.yaml")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`nightshift: cannot read config file ${path.join(dir, "nope.yaml")}: no such file (NS_ERR_CLI_SETTINGS)\n`);
    const typo = path.join(dir, "typo.yaml");
    fs.writeFileSync(typo, `url: ${controller.url}\ntoken_file: x\n`);
    expect((await runCli(["hosts", "--config", typo])).stderr).toContain("token_file");
  });
});

describe("usage errors exit 2", () => {
  it.each([
    [["hostz"], "nightshift: unknown command 'hostz' (NS_ERR_USAGE)"],
    [["hosts", "enroll"], "nightshift: missing required argument 'name' (NS_ERR_USAGE)"],
    [["hosts", "enrol", "web1"], "nightshift: unknown command 'enrol' for 'nightshift hosts'"],
    [["events", "--limit", "0"], "argument '0' is invalid. expected a positive integer"],
    [["events", "--since", "yesterday"], "argument 'yesterday' is invalid. expected a duration"],
    [["events", "--since", "foo 1"], "argument 'foo 1' is invalid. expected a duration"],
    [["events", "--since", "2026-02-30"], "argument '2026-02-30' is invalid. expected a duration"],
    [["events", "--since", "120"], "argument '120' is invalid. expected a duration back from now (90s, 15m, 1h, 2d, 1w; with its unit)"],
    [["expect-stop", "web1", "--host", "hv1", "--reason", "x", "--for", "30"], "a bare number is not a duration: give its unit, like 30s or 30m"],
    [["run", "start", "--vm", "web1", "--patch-exec", "x", "--patch-timeout", "30"],
      "--patch-timeout: a bare number is not a duration: give its unit, like 30s or 30m"],
    [["vms", "--bogus"], "nightshift: unknown option '--bogus' (NS_ERR_USAGE)"],
    [[], "Usage: nightshift"],
  ])("nightshift %j", async (args, message) => {
    const result = await runCli(args, { NIGHTSHIFT_URL: controller.url, NIGHTSHIFT_TOKEN: controller.adminToken });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(message);
  });
});
