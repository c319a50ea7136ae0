/**
 * TLS end to end: a controller with a certificate from a private CA, an agent
 * trusting that CA through tls.caFile (wss://), the CLI through
 * NODE_EXTRA_CA_CERTS; an agent without the CA is refused by TLS itself.
 * Also checks the admin token file is created owner-only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startController, type TestController } from "../helpers/controller.js";
import { AgentProcess, tempAgentDir } from "../integration/agent/daemon/agent-process.js";
import { runAgainst } from "../integration/cli/run-cli.js";

let pki: string;
let controller: TestController;
const agents: AgentProcess[] = [];
const dirs: { cleanup(): void }[] = [];

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: pki, stdio: "pipe" });
}

beforeAll(async () => {
  pki = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-pki-"));
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=nightshift test CA",
    "-keyout", "ca.key", "-out", "ca.pem"]);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
  fs.writeFileSync(path.join(pki, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
    "-extfile", "san.ext", "-out", "server.pem"]);
  controller = await startController({
    config: { tls: { cert: path.join(pki, "server.pem"), key: path.join(pki, "server.key") } },
    caFile: path.join(pki, "ca.pem"),
  });
});

afterAll(async () => {
  for (const agent of agents) await agent.stop();
  await controller?.stop();
  for (const dir of dirs) dir.cleanup();
  fs.rmSync(pki, { recursive: true, force: true });
});

describe("TLS", { timeout: 30_000 }, () => {
  it("serves https and wss, and writes the admin token owner-only", () => {
    expect(controller.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(controller.agentUrl).toMatch(/^wss:\/\//);
    expect(fs.statSync(path.join(controller.dataDir, "admin.token")).mode & 0o777).toBe(0o600);
  });

  it("an agent trusting the CA connects over wss; the CLI sees it", async () => {
    const caEnv = { NODE_EXTRA_CA_CERTS: path.join(pki, "ca.pem") };
    const host = `tls-${randomBytes(3).toString("hex")}`;
    const enrolled = await runAgainst(controller, ["hosts", "enroll", host], caEnv);
    expect(enrolled.stderr).not.toMatch(/error/i);
    expect(enrolled.code).toBe(0);
    const dir = tempAgentDir(enrolled.stdout.trim());
    dirs.push(dir);
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dir.tokenFile, stateDir: dir.stateDir,
      env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_TLS_CA_FILE: path.join(pki, "ca.pem") } });
    agents.push(agent);
    const deadline = Date.now() + 10_000;
    let hosts: { name: string; status: string; connected: boolean }[] = [];
    while (Date.now() < deadline) {
      const listed = await runAgainst(controller, ["hosts", "--json"], caEnv);
      hosts = JSON.parse(listed.stdout) as typeof hosts;
      if (hosts.find((h) => h.name === host)?.connected) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(hosts.find((h) => h.name === host)).toMatchObject({ status: "up", connected: true });
  });

  it("an agent without the CA is refused by certificate verification and says so", async () => {
    const dir = tempAgentDir("nsh_whatever");
    dirs.push(dir);
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dir.tokenFile, stateDir: dir.stateDir,
      env: { NIGHTSHIFT_AGENT_HOST: "untrusting" } });
    agents.push(agent);
    const line = await agent.waitForLog((l) => /certificate/i.test(JSON.stringify(l)), "a certificate error");
    expect(JSON.stringify(line)).toMatch(/self[- ]signed|unable to (get|verify)|certificate/i);
  });

  it("the CLI without the CA fails with a clear TLS message", async () => {
    const result = await runAgainst(controller, ["status"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/certificate/i);
    expect(result.stderr).toMatch(/NODE_EXTRA_CA_CERTS/);
  });
});
