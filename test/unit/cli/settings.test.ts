/** Where the CLI finds controller URL and token: flag > environment > config file, each key on its own. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultConfigPath, resolveSettings, type SettingsFlags } from "../../../cli/settings.js";

let home: string;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-cli-settings-"));
});

afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

function writeDefaultConfig(text: string): string {
  const file = defaultConfigPath({}, home);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function resolve(flags: SettingsFlags = {}, env: NodeJS.ProcessEnv = {}) {
  return resolveSettings({ flags, env, homeDir: home });
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected an error");
}

describe("precedence", () => {
  const env = { NIGHTSHIFT_URL: "http://env:8650", NIGHTSHIFT_TOKEN: "env-token" };

  beforeEach(() => {
    writeDefaultConfig("url: http://file:8650\ntoken: file-token\n");
  });

  it("a flag wins over the environment and the config file", () => {
    const s = resolve({ url: "http://flag:8650", token: "flag-token" }, env);
    expect(s).toEqual({ url: "http://flag:8650", token: "flag-token", urlSource: "--url", tokenSource: "--token" });
  });

  it("the environment wins over the config file", () => {
    const s = resolve({}, env);
    expect(s).toEqual({ url: "http://env:8650", token: "env-token", urlSource: "$NIGHTSHIFT_URL", tokenSource: "$NIGHTSHIFT_TOKEN" });
  });

  it("the config file is the last resort", () => {
    const s = resolve();
    expect(s.url).toBe("http://file:8650");
    expect(s.token).toBe("file-token");
    expect(s.urlSource).toBe(`config file ${defaultConfigPath({}, home)}`);
  });

  it("resolves each key on its own: URL from a flag, token from the environment, or from the file", () => {
    expect(resolve({ url: "http://flag:8650" }, { NIGHTSHIFT_TOKEN: "env-token" }))
      .toMatchObject({ url: "http://flag:8650", token: "env-token" });
    expect(resolve({ token: "flag-token" })).toMatchObject({ url: "http://file:8650", token: "flag-token" });
    expect(resolve({}, { NIGHTSHIFT_URL: "http://env:8650" })).toMatchObject({ url: "http://env:8650", token: "file-token" });
  });

  it("treats an empty environment variable as unset", () => {
    expect(resolve({}, { NIGHTSHIFT_URL: "", NIGHTSHIFT_TOKEN: "  " })).toMatchObject({ url: "http://file:8650", token: "file-token" });
  });

  it("--config replaces the default file", () => {
    const other = path.join(home, "other.yaml");
    fs.writeFileSync(other, "url: http://other:8650\ntoken: other-token\n");
    expect(resolve({ config: other })).toMatchObject({ url: "http://other:8650", token: "other-token" });
  });

  it("$XDG_CONFIG_HOME moves the default file", () => {
    const xdg = path.join(home, "xdg");
    fs.mkdirSync(path.join(xdg, "nightshift"), { recursive: true });
    fs.writeFileSync(path.join(xdg, "nightshift", "cli.yaml"), "url: http://xdg:8650\ntoken: xdg-token\n");
    expect(resolveSettings({ flags: {}, env: { XDG_CONFIG_HOME: xdg }, homeDir: home })).toMatchObject({ url: "http://xdg:8650" });
  });
});

describe("the config file", () => {
  it("reads tokenFile relative to the config file's directory, trimmed", () => {
    const dir = path.join(home, "conf");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "admin.token"), "nsa_secret\n");
    fs.writeFileSync(path.join(dir, "cli.yaml"), "url: http://c:8650\ntokenFile: admin.token\n");
    const s = resolve({ config: path.join(dir, "cli.yaml") });
    expect(s.token).toBe("nsa_secret");
    expect(s.tokenSource).toContain(path.join(dir, "admin.token"));
  });

  it("is not read at all when flags and environment give both values", () => {
    writeDefaultConfig("url: [not valid");
    expect(resolve({}, { NIGHTSHIFT_URL: "http://env:8650", NIGHTSHIFT_TOKEN: "t" }).url).toBe("http://env:8650");
  });

  it("must exist when given with --config", () => {
    const err = errorOf(() => resolve({ config: path.join(home, "missing.yaml") }, { NIGHTSHIFT_URL: "http://e:1", NIGHTSHIFT_TOKEN: "t" }));
    expect(err.code).toBe("NS_ERR_CLI_SETTINGS");
    expect(err.message).toBe(`cannot read config file ${path.join(home, "missing.yaml")}: no such file`);
  });

  it("refuses unknown keys (a typo would otherwise be ignored)", () => {
    const file = writeDefaultConfig("url: http://c:8650\ntokenfile: /x\n");
    const err = errorOf(() => resolve());
    expect(err.code).toBe("NS_ERR_CLI_SETTINGS");
    expect(err.message).toBe(`invalid config file ${file}:\n` +
      `  ${file}:2: tokenfile: unknown key "tokenfile" (did you mean tokenFile?); known keys: url, token, tokenFile`);
  });

  it("refuses token and tokenFile together", () => {
    writeDefaultConfig("url: http://c:8650\ntoken: a\ntokenFile: /b\n");
    expect(errorOf(() => resolve()).message).toContain("set either token or tokenFile, not both");
  });

  it("says which file is not YAML", () => {
    const file = writeDefaultConfig("url: [unclosed\n");
    expect(errorOf(() => resolve()).message).toMatch(new RegExp(`^${file}:\\d+:\\d+: .* \\(the config file is YAML\\)$`));
  });

  it("names a token file that cannot be read, and an empty one", () => {
    writeDefaultConfig("url: http://c:8650\ntokenFile: /nonexistent/admin.token\n");
    expect(errorOf(() => resolve()).message).toMatch(/^cannot read token file \/nonexistent\/admin\.token \(tokenFile in config file .*\): no such file$/);
    fs.writeFileSync(path.join(home, "empty.token"), "\n");
    writeDefaultConfig(`url: http://c:8650\ntokenFile: ${path.join(home, "empty.token")}\n`);
    expect(errorOf(() => resolve()).message).toContain("is empty");
  });
});

describe("missing values name every source tried", () => {
  it("no URL anywhere", () => {
    const err = errorOf(() => resolve({}, { NIGHTSHIFT_TOKEN: "t" }));
    expect(err.code).toBe("NS_ERR_CLI_SETTINGS");
    expect(err.message).toContain(`no controller URL: tried --url, $NIGHTSHIFT_URL and the config file ${defaultConfigPath({}, home)} (not found)`);
  });

  it("no token anywhere, with a config file that has only a URL", () => {
    writeDefaultConfig("url: http://c:8650\n");
    const err = errorOf(() => resolve());
    expect(err.message).toContain("no API token: tried --token, $NIGHTSHIFT_TOKEN and the config file");
    expect(err.message).toContain("(no token or tokenFile key)");
    expect(err.message).toContain("/var/lib/nightshift/admin.token");
  });

  it("an empty flag is an error, not a silent fallback", () => {
    expect(errorOf(() => resolve({ token: "" }, { NIGHTSHIFT_URL: "http://e:1" })).message).toBe("--token was given an empty value");
  });
});

describe("URLs", () => {
  const url = (u: string) => resolve({ url: u, token: "t" }).url;

  it("drops trailing slashes and keeps a path prefix", () => {
    expect(url("http://c:8650/")).toBe("http://c:8650");
    expect(url("https://proxy.example/nightshift/")).toBe("https://proxy.example/nightshift");
  });

  it("refuses non-URLs and the agents' ws:// endpoint, naming the source", () => {
    expect(errorOf(() => url("controller:8650")).message).toContain("must start with http:// or https://");
    expect(errorOf(() => url("not a url")).message).toContain("(from --url) is not a URL");
    expect(errorOf(() => url("ws://c:8650/v1/agent")).message).toContain("ws:// is the agents' endpoint");
  });
});
