/**
 * The two command sources of agent/probes/commands.ts: a host tree's
 * recordings (what a missing recording answers, where an answer comes from,
 * how to record one) and this host's tools (stand-in binaries on PATH: an
 * answer asked once is asked once).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostCommand } from "../../../../agent/probes/commands.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-commands-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const signal = new AbortController().signal;

const ECHO: HostCommand = { file: "tool", args: ["--list"], timeoutMs: 2000, recorded: { name: "tool-list", how: "tool -l" } };

describe("recordedCommands", () => {
  const root = path.join(dir, "tree");
  fs.mkdirSync(path.join(root, "commands"), { recursive: true });
  fs.mkdirSync(path.join(root, "srv"), { recursive: true });
  fs.writeFileSync(path.join(root, "commands/tool-list"), "a\nb\n");
  const commands = recordedCommands(new HostRoot(root));

  it("answers with the recording, exit 0; names it as the origin and says how to record it", async () => {
    expect(await commands.run(ECHO, signal)).toEqual({ code: 0, stdout: "a\nb\n", stderr: "" });
    expect(commands.origin(ECHO)).toBe(path.join(root, "commands/tool-list"));
    expect(commands.remedy(ECHO)).toBe(`record \`tool -l\` into ${path.join(root, "commands/tool-list")}`);
  });

  it("without the recording: the command's own answer for that, else NS_ERR_PROBE_COMMAND; a command with no recording at all is refused", async () => {
    const absent: HostCommand = { ...ECHO, recorded: { name: "tool-other" } };
    await expect(commands.run(absent, signal)).rejects.toMatchObject({
      code: "NS_ERR_PROBE_COMMAND", message: `no recorded tool output at ${path.join(root, "commands/tool-other")}`,
    });
    const missing = { code: 2, stdout: "", stderr: "" };
    expect(await commands.run({ ...ECHO, recorded: { name: "tool-other", missing } }, signal)).toEqual(missing);
    await expect(commands.run({ file: "tool", args: [], timeoutMs: 1 }, signal)).rejects.toMatchObject({ code: "NS_ERR_PROBE_COMMAND" });
  });

  it("answers whether a path exists from the tree, and mount checks from commands/mount-responsiveness", async () => {
    expect(await commands.exists("/srv", signal)).toBe(true);
    expect(await commands.exists("/nowhere", signal)).toBe(false);
    const answers = await commands.checkMounts([{ mountPoint: "/srv" }], { timeoutMs: 1000 });
    expect(answers.get("/srv")).toEqual({ state: "up", empty: false, elapsedMs: 0 });
  });
});

describe("liveCommands", () => {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  const calls = path.join(dir, "calls");
  fs.writeFileSync(path.join(bin, "ticks"), `#!/bin/sh\necho x >> ${calls}\necho "$NS_TEST_VALUE"\n`, { mode: 0o755 });
  const commands = liveCommands({ env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });

  it("runs the tool with the command's environment; an answer that cannot change is asked once", async () => {
    const once: HostCommand = { file: "ticks", args: [], timeoutMs: 5000, once: true, env: { NS_TEST_VALUE: "100" } };
    expect(await commands.run(once, signal)).toEqual({ code: 0, stdout: "100\n", stderr: "" });
    expect(await commands.run(once, signal)).toEqual({ code: 0, stdout: "100\n", stderr: "" });
    expect(fs.readFileSync(calls, "utf8")).toBe("x\n");
    await commands.run({ ...once, once: false }, signal);
    expect(fs.readFileSync(calls, "utf8")).toBe("x\nx\n");
  });

  it("names the command line as the origin, and the command's remedy", async () => {
    expect(commands.origin(ECHO)).toBe("tool --list");
    expect(commands.remedy(ECHO)).toBe("make `tool --list` work on this host");
    expect(commands.remedy({ ...ECHO, remedy: "install tool" })).toBe("install tool");
    expect(await commands.exists(dir, signal)).toBe(true);
    expect(await commands.exists(path.join(dir, "nowhere"), signal)).toBe(false);
  });
});
