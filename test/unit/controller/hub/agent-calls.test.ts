import { describe, expect, it } from "vitest";
import { AgentCalls, StepFailedError, StepNoAnswerError, type StepChannel } from "../../../../controller/hub/agent-calls.js";
import { createLogger } from "../../../../shared/logging.js";
import type { ControllerMessage } from "../../../../shared/protocol/messages.js";
import type { Unversioned } from "../../../../shared/protocol/codec.js";

function connected(): { calls: AgentCalls; sent: Unversioned<ControllerMessage>[] } {
  const calls = new AgentCalls({ agentLostTimeoutMs: 60_000, log: createLogger("test", "silent") });
  const sent: Unversioned<ControllerMessage>[] = [];
  const channel: StepChannel = { send: (m) => sent.push(m) };
  calls.sessionStarted(1, channel);
  return { calls, sent };
}

const ping = { kind: "guest-ping", vm: "web1" } as const;

describe("AgentCalls: how a step that does not succeed fails", () => {
  it("a connected agent that does not answer in time: NS_ERR_STEP_NO_ANSWER, not the agent's NS_ERR_STEP_TIMEOUT", async () => {
    const { calls, sent } = connected();
    const err = await calls.call(1, "hv1", "s1", ping, { timeoutMs: 20, repeatable: true }).catch((e: unknown) => e);
    expect(sent).toHaveLength(1);
    expect(err).toBeInstanceOf(StepNoAnswerError);
    expect((err as StepNoAnswerError).code).toBe("NS_ERR_STEP_NO_ANSWER");
    expect((err as Error).message).toBe("guest-ping web1 on hv1 did not answer within 0 s");
  });

  it("the agent's own timeout keeps its code", async () => {
    const { calls } = connected();
    const pending = calls.call(1, "hv1", "s2", ping, { timeoutMs: 10_000, repeatable: true }).catch((e: unknown) => e);
    calls.result(1, { v: 1, type: "step-result", id: "s2", outcome: { ok: false, error: { code: "NS_ERR_STEP_TIMEOUT", message: "no answer from the guest" } } });
    const err = await pending;
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).code).toBe("NS_ERR_STEP_TIMEOUT");
    expect((err as Error).message).toBe("no answer from the guest");
  });

  it("a code this controller does not know becomes NS_ERR_STEP_FAILED, with the agent's code in the message", async () => {
    const { calls } = connected();
    const pending = calls.call(1, "hv1", "s3", ping, { timeoutMs: 10_000, repeatable: true }).catch((e: unknown) => e);
    calls.result(1, { v: 1, type: "step-result", id: "s3", outcome: { ok: false, error: { code: "NS_ERR_STEP_NEWER", message: "x" } } });
    const err = await pending;
    expect((err as StepFailedError).code).toBe("NS_ERR_STEP_FAILED");
    expect((err as Error).message).toBe("x (the agent answered NS_ERR_STEP_NEWER, a code this controller does not know)");
  });
});
