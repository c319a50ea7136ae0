/** `nightshift hosts`, `hosts enroll`, `hosts revoke` as real processes against a real controller. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../helpers/controller.js";
import { api, runAgainst } from "./run-cli.js";

let controller: TestController;

beforeAll(async () => {
  controller = await startController();
});

afterAll(async () => {
  await controller?.stop();
});

const HOST_COLUMNS = /^NAME\s+STATUS\s+CONNECTED\s+LAST-SEEN\s+VMS\s+AGENT\s+LIBVIRT$/;

describe("hosts", () => {
  it("prints only the header while no host is enrolled, and [] with --json", async () => {
    const table = await runAgainst(controller, ["hosts"]);
    expect(table).toEqual({ code: 0, stdout: "NAME  STATUS  CONNECTED  LAST-SEEN  VMS  AGENT  LIBVIRT\n", stderr: "" });
    const json = await runAgainst(controller, ["hosts", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it("enroll prints the token exactly once, alone on stdout, and says where it goes on stderr", async () => {
    const result = await runAgainst(controller, ["hosts", "enroll", "web1"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^nsh_[A-Za-z0-9_-]{43}\n$/);
    const token = result.stdout.trim();
    expect((result.stdout + result.stderr).split(token)).toHaveLength(2);
    expect(result.stderr).toContain("Host 'web1' enrolled");
    expect(result.stderr).toContain("/etc/nightshift/agent.token");
    expect(result.stderr).toContain("mode 0600");
  });

  it("lists the enrolled host: status enrolled, not connected, never seen", async () => {
    const result = await runAgainst(controller, ["hosts"]);
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(HOST_COLUMNS);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^web1\s+enrolled\s+no\s+never\s+0\s+-\s+-$/);
  });

  it("--json prints exactly GET /v1/hosts", async () => {
    const result = await runAgainst(controller, ["hosts", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(await api(controller, "/v1/hosts"));
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ name: "web1", status: "enrolled", connected: false,
      lastSeenAt: null, vms: 0 })]);
    // `hosts list` is the same command spelled out.
    expect(JSON.parse((await runAgainst(controller, ["hosts", "list", "--json"])).stdout)).toEqual(JSON.parse(result.stdout));
  });

  it("enroll --json prints the API's {name, token, enrolledAt}", async () => {
    const result = await runAgainst(controller, ["hosts", "enroll", "web2", "--json"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const body = JSON.parse(result.stdout) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(["enrolledAt", "name", "token"]);
    expect(body.name).toBe("web2");
    expect(body.token).toMatch(/^nsh_/);
    expect(new Date(body.enrolledAt!).toISOString()).toBe(body.enrolledAt);
  });

  it("enrolling a name twice is a clear error, exit 1, nothing on stdout", async () => {
    const result = await runAgainst(controller, ["hosts", "enroll", "web1"]);
    expect(result).toEqual({
      code: 1, stdout: "",
      stderr: "nightshift: host 'web1' is already enrolled; revoke it first to issue a new token (NS_ERR_HOST_EXISTS)\n",
    });
  });

  it("refuses an invalid host name with the controller's reason", async () => {
    const result = await runAgainst(controller, ["hosts", "enroll", "bad name!"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("nightshift: host names are letters, digits, '.', '_' and '-', starting with a letter or digit (NS_ERR_BAD_REQUEST)\n");
  });

  it("revoke says what happened, and hosts shows the host as revoked", async () => {
    const result = await runAgainst(controller, ["hosts", "revoke", "web2"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^Host 'web2' revoked at \d{4}-\d\d-\d\dT[\d:.]+Z: its token no longer works and its agent was disconnected\.\n$/);
    const list = await runAgainst(controller, ["hosts"]);
    expect(list.stdout).toMatch(/^web2\s+revoked\s+no\s+never\s+0\s+-\s+-$/m);
    expect(list.stdout).toMatch(/^web1\s+enrolled\s/m);
  });

  it("revoke --json prints the API's {name, status, revokedAt}; revoking again or an unknown host fails", async () => {
    await runAgainst(controller, ["hosts", "enroll", "web3"]);
    const result = await runAgainst(controller, ["hosts", "revoke", "web3", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ name: "web3", status: "revoked", revokedAt: expect.stringMatching(/Z$/) });

    expect(await runAgainst(controller, ["hosts", "revoke", "web3"])).toEqual({
      code: 1, stdout: "", stderr: "nightshift: host 'web3' is already revoked (NS_ERR_HOST_REVOKED)\n",
    });
    expect(await runAgainst(controller, ["hosts", "revoke", "nosuch"])).toEqual({
      code: 1, stdout: "", stderr: "nightshift: no host named 'nosuch' (NS_ERR_NO_HOST)\n",
    });
  });

  it("a revoked name can be enrolled again, with a new token", async () => {
    const first = JSON.parse((await runAgainst(controller, ["hosts", "enroll", "web4", "--json"])).stdout) as { token: string };
    await runAgainst(controller, ["hosts", "revoke", "web4"]);
    const again = await runAgainst(controller, ["hosts", "enroll", "web4"]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).not.toBe(first.token);
    expect((await runAgainst(controller, ["hosts"])).stdout).toMatch(/^web4\s+enrolled\s/m);
  });
});
