/**
 * One style and one set of rules for what the CLI refuses: every refusal is
 * `nightshift: ... (NS_ERR_...)` with exit 2 (usage) or 1 (the controller's
 * answer), never commander's own `error: ...`, and the same input is judged
 * the same everywhere (a host filter, a percentage, a name's length).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../helpers/controller.js";
import type { TestAgent } from "../../helpers/ws-agent.js";
import { enrolledAgent, runAgainst, waitForVms } from "./run-cli.js";

let controller: TestController;
let hv: TestAgent;

beforeAll(async () => {
  controller = await startController();
  hv = await enrolledAgent(controller, "hv1", ["web1"]);
  await waitForVms(controller, 1);
});

afterAll(async () => {
  await hv?.close();
  await controller?.stop();
});

const STYLE = /^nightshift: [\s\S]+ \(NS_ERR_[A-Z_]+\)\n/;

describe("CLI validation", () => {
  it("--max-failures above 100% is refused before anything is sent, as the API refuses it", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--patch-exec", "true", "--max-failures", "150%", "--dry-run"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(STYLE);
    expect(result.stderr).toMatch(/max-failures/);
    expect(result.stderr).toMatch(/100%/);
  });

  it("a 300-character host name is told it is too long, not that it has a bad character", async () => {
    const result = await runAgainst(controller, ["hosts", "enroll", "a".repeat(300)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(STYLE);
    expect(result.stderr).toMatch(/at most 253 characters/);
    expect(result.stderr).not.toMatch(/letters, digits/);
  });

  it("events --host with an unknown host is refused like vms --host", async () => {
    const vms = await runAgainst(controller, ["vms", "--host", "nosuch"]);
    const events = await runAgainst(controller, ["events", "--host", "nosuch"]);
    expect(vms.code).toBe(1);
    expect(events.code).toBe(vms.code);
    expect(events.stderr).toBe(vms.stderr);
    expect(events.stderr).toMatch(/no host named 'nosuch' \(NS_ERR_NO_HOST\)/);
  });

  it("commander's own refusals come in nightshift's style with NS_ERR_USAGE and exit 2", async () => {
    for (const args of [["runs", "--limit", "x"], ["findings", "--severity", "urgent"], ["vms", "--no-such-flag"], ["no-such-command"]]) {
      const result = await runAgainst(controller, args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(STYLE);
      expect(result.stderr).toMatch(/\(NS_ERR_USAGE\)/);
      expect(result.stderr).not.toMatch(/^error: /m);
    }
  });
});
