/**
 * Requests no client of ours would send, as raw bytes to a real controller
 * process: targets `new URL()` cannot parse, broken percent-encoding,
 * request lines Node's parser refuses. Each gets a documented status with a
 * JSON NS_ERR body, and the process keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../helpers/controller.js";
import { rawRequest, upgradeRequest } from "../../helpers/raw-http.js";

let controller: TestController;

beforeAll(async () => {
  controller = await startController();
});

afterAll(async () => {
  await controller?.stop();
});

/** The process is alive and still answers. */
async function expectServing(): Promise<void> {
  expect(controller.process.exitCode, controller.logs()).toBeNull();
  const res = await fetch(`${controller.url}/healthz`);
  expect(res.status).toBe(200);
}

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
}

describe("hostile requests", () => {
  it("an upgrade whose target new URL() cannot parse gets a JSON 404 or 400; the process keeps serving", async () => {
    const expected: [string, number, string][] = [
      ["//", 404, "NS_ERR_NOT_FOUND"],
      ["///", 404, "NS_ERR_NOT_FOUND"],
      ["//:", 404, "NS_ERR_NOT_FOUND"],
      ["*", 400, "NS_ERR_BAD_PATH"],
      ["http://[::1", 400, "NS_ERR_BAD_PATH"],
      // Broken percent-encoding: 400 like the same target without an Upgrade, whether or not it is near /v1/agent.
      ["/%", 400, "NS_ERR_BAD_PATH"],
      ["/v1/agent%zz", 400, "NS_ERR_BAD_PATH"],
      ["http://x/%", 400, "NS_ERR_BAD_PATH"],
    ];
    for (const [target, status, code] of expected) {
      const answer = await rawRequest(controller.url, upgradeRequest(target, { Authorization: `Bearer ${controller.adminToken}` }));
      expect(answer.status, `${target}: ${answer.raw}`).toBe(status);
      expect(answer.headers["content-type"]).toBe("application/json");
      expect(errorCode(answer.body), target).toBe(code);
      await expectServing();
    }
  });

  it("a plain request for such a target is 404 (an empty path segment) or 400, never 500", async () => {
    const expected: [string, number, string][] = [
      ["//", 404, "NS_ERR_NOT_FOUND"],
      ["//v1/hosts", 404, "NS_ERR_NOT_FOUND"],
      ["*", 400, "NS_ERR_BAD_PATH"],
      ["http://[::1", 400, "NS_ERR_BAD_PATH"],
      ["/%", 400, "NS_ERR_BAD_PATH"],
      ["/v1/agent%zz", 400, "NS_ERR_BAD_PATH"],
    ];
    for (const [target, status, code] of expected) {
      const answer = await rawRequest(controller.url, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${controller.adminToken}\r\n\r\n`);
      expect(answer.status, `${target}: ${answer.raw}`).toBe(status);
      expect(errorCode(answer.body), target).toBe(code);
    }
    await expectServing();
  });

  it("malformed percent-encoding in a path parameter is 400 NS_ERR_BAD_PATH", async () => {
    const auth = { Authorization: `Bearer ${controller.adminToken}` };
    for (const [method, p] of [["POST", "/v1/hosts/%E0%A4%A/revoke"], ["GET", "/v1/runs/%E0%A4%A"], ["GET", "/v1/runs/%"], ["DELETE", "/v1/windows/%ff"]] as const) {
      const res = await fetch(controller.url + p, { method, headers: auth });
      const body = await res.text();
      expect(res.status, `${method} ${p}: ${body}`).toBe(400);
      expect(errorCode(body)).toBe("NS_ERR_BAD_PATH");
      expect(body).toMatch(/percent-encoding/);
    }
    await expectServing();
  });

  it("CONNECT is answered 405 NS_ERR_METHOD with an Allow header, not closed without a word", async () => {
    for (const target of ["127.0.0.1:22", "example.com:443", "/v1/hosts"]) {
      const answer = await rawRequest(controller.url, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      expect(answer.status, `${target}: ${JSON.stringify(answer.raw)}`).toBe(405);
      expect(answer.headers["content-type"]).toBe("application/json");
      expect(answer.headers.allow).toBe("GET, POST, PUT, DELETE");
      expect(errorCode(answer.body)).toBe("NS_ERR_METHOD");
    }
    await expectServing();
  });

  it("a request Node's HTTP parser refuses gets a JSON answer with an NS_ERR code", async () => {
    const garbage = await rawRequest(controller.url, "GARBAGE\r\n\r\n");
    expect(garbage.status, garbage.raw).toBe(400);
    expect(errorCode(garbage.body)).toBe("NS_ERR_BAD_HTTP");
    const hugeHeader = await rawRequest(controller.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(hugeHeader.status, hugeHeader.raw).toBe(431);
    expect(errorCode(hugeHeader.body)).toBe("NS_ERR_HEADERS_TOO_LARGE");
    await expectServing();
  });
});
