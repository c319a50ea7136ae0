/**
 * Broken WebSocket handshakes on /v1/agent with a valid host token, as raw
 * bytes to a controller on port 0 (real HTTP server, real SQLite file): each
 * is refused with a JSON NS_ERR answer, and none may leave the host marked as
 * "upgrading" — the real agent that comes next must be accepted, not 409.
 * The malformed Sec-WebSocket-Protocol is one ws itself refuses, after the
 * host was marked: it is what shows the mark goes with the socket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { controllerApi } from "../../helpers/controller-api.js";
import { rawRequest, upgradeRequest } from "../../helpers/raw-http.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
let hostToken: string;
const { ok } = controllerApi(() => ({ url: controller.url, adminToken }));

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-handshake-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  hostToken = (await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv-hs" }, 201)).token;
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A well-behaved agent for the same host: accepted, welcomed, then gone again. */
async function expectAgentAccepted(after: string): Promise<void> {
  let agent: TestAgent;
  try {
    agent = await TestAgent.connect(controller.url, hostToken);
  } catch (err) {
    throw new Error(`after ${after}, the real agent was refused: ${(err as Error).message}`);
  }
  agent.hello("hv-hs");
  expect((await agent.next("welcome")).host).toBe("hv-hs");
  await agent.close();
}

describe("broken handshakes on /v1/agent", () => {
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${hostToken}` });
  const cases: [string, () => string, number, string][] = [
    ["a malformed Sec-WebSocket-Key", () => upgradeRequest("/v1/agent", { ...auth(), "Sec-WebSocket-Key": "not-base64!" }), 400, "NS_ERR_BAD_HANDSHAKE"],
    ["no Sec-WebSocket-Key", () => upgradeRequest("/v1/agent", { ...auth(), "Sec-WebSocket-Key": null }), 400, "NS_ERR_BAD_HANDSHAKE"],
    ["an unsupported Sec-WebSocket-Version", () => upgradeRequest("/v1/agent", { ...auth(), "Sec-WebSocket-Version": "12" }), 400, "NS_ERR_BAD_HANDSHAKE"],
    ["the POST method", () => upgradeRequest("/v1/agent", auth(), "POST"), 405, "NS_ERR_METHOD"],
    ["an Upgrade other than websocket", () => upgradeRequest("/v1/agent", { ...auth(), Upgrade: "h2c" }), 400, "NS_ERR_BAD_HANDSHAKE"],
    ["an invalid Sec-WebSocket-Protocol", () => upgradeRequest("/v1/agent", { ...auth(), "Sec-WebSocket-Protocol": "a,,b" }), 400, "NS_ERR_BAD_HANDSHAKE"],
  ];
  for (const [what, request, status, code] of cases) {
    it(`${what}: ${status} ${code}, and the host's next agent is accepted`, async () => {
      const answer = await rawRequest(controller.url, request());
      expect(answer.status, answer.raw).toBe(status);
      expect(answer.headers["content-type"], answer.raw).toBe("application/json");
      expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toBe(code);
      await expectAgentAccepted(what);
    });
  }
});
