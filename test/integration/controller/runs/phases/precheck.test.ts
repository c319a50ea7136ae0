/**
 * A pre-check the agent refuses tells the operator the agent's own reason
 * (a hook file that is group-writable needs `chmod go-w`, not another line in
 * the config). Real controller and agent processes; test:///default.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { agentOnController } from "../../../../helpers/agent-on-controller.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOST = "precheck-host";

async function skipReasonFor(patch: { hook: string } | { exec: string }, maintenance: Record<string, unknown>): Promise<string> {
  const { runReason } = await agentOnController(HOST, { maintenance }, cleanups);
  return runReason({ vms: [`${HOST}/test`], patch, verify: { exec: "true" } });
}

describe("pre-check refusals carry the agent's reason", () => {
  it("a listed hook that is group-writable: the reason says chmod go-w, not 'add it to the config'", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-precheck-hook-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755);
    const hook = path.join(dir, "patch-vm");
    fs.writeFileSync(hook, "#!/bin/sh\nexit 0\n");
    fs.chmodSync(hook, 0o775);
    const reason = await skipReasonFor({ hook }, { hooks: [hook], guestCommands: ["true"] });
    expect(reason).toMatch(/group- or world-writable/);
    expect(reason).toMatch(/chmod go-w/);
    expect(reason).not.toMatch(/add them to its config/);
  }, 60_000);

  it("a guest command that is not listed: the reason names maintenance.guestCommands", async () => {
    const reason = await skipReasonFor({ exec: "apt-get -y upgrade" }, { guestCommands: ["true"] });
    expect(reason).toMatch(/guest command `apt-get -y upgrade` is not allowed by this agent's config/);
    expect(reason).toMatch(/maintenance\.guestCommands/);
  }, 60_000);
});
