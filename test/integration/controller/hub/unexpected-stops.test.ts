/**
 * An unexpected stop of a VM that is then undefined is over: nobody will
 * start it again, so its finding resolves (and stops alerting), and the
 * history holds the undefine. Real libvirt (test:///default through the
 * daemon), a real agent process, a real controller.
 */
import { pollFor } from "../../../helpers/poll.js";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";
import { startController, type TestController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { AgentProcess, tempAgentDir } from "../../agent/daemon/agent-process.js";

const HOST = "stops-host";
const prefix = testPrefix("stops");
let conn: LibvirtConnection;
let controller: TestController;
let agent: AgentProcess;
let cleanupDirs: () => void = () => {};
let startAgent: () => AgentProcess;

interface Finding { code: string; subject: string; resolvedAt: string | null; remedy: string }
interface EventInfo { kind: string; vm: string | null; event: string | null }

const api = controllerApi(() => controller);


const stopFinding = async (vm: string, resolved: boolean) =>
  (await api.ok<Finding[]>("GET", `/v1/findings?host=${HOST}&resolved=true`))
    .find((f) => f.code === "NS_VM_UNEXPECTED_STOP" && f.subject === vm && (f.resolvedAt !== null) === resolved);

beforeAll(async () => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  controller = await startController();
  const { token } = await api.ok<{ token: string }>("POST", "/v1/hosts", { name: HOST }, 201);
  const dirs = tempAgentDir(token);
  cleanupDirs = dirs.cleanup;
  startAgent = () => new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
    env: { NIGHTSHIFT_AGENT_HOST: HOST } });
  agent = startAgent();
  await agent.waitForLibvirt();
  await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  cleanupDirs();
  await removeDomainsWithPrefix(conn, prefix);
  await conn.connectClose();
});

describe("unexpected stops of VMs that are then undefined", () => {
  it("a stopped VM's finding resolves when it is undefined, and the undefine is in the history", async () => {
    const name = `${prefix}gone`;
    const dom = await conn.domainDefineXML(testDriverDomainXml(name));
    await conn.domainCreate(dom);
    await conn.domainDestroy(dom);
    const open = await pollFor(() => stopFinding(name, false), "the unexpected-stop finding");
    expect(open.remedy).toContain(`virsh start ${name}`);

    await conn.domainUndefine(dom);
    const resolved = await pollFor(() => stopFinding(name, true), "the finding resolved by the undefine");
    expect(resolved.resolvedAt).not.toBeNull();
    expect(await stopFinding(name, false)).toBeUndefined();
    const history = await api.ok<EventInfo[]>("GET", `/v1/events?host=${HOST}&vm=${name}`);
    expect(history.map((e) => e.event)).toEqual(["defined", "started", "stopped", "undefined"]);
  });

  it("a VM undefined while the agent was not running: the next inventory, without it, resolves its finding", async () => {
    const name = `${prefix}gone-while-down`;
    const dom = await conn.domainDefineXML(testDriverDomainXml(name));
    await conn.domainCreate(dom);
    await conn.domainDestroy(dom);
    await pollFor(() => stopFinding(name, false), "the unexpected-stop finding");
    await agent.stop();
    await conn.domainUndefine(dom);
    agent = startAgent();
    await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
    await pollFor(() => stopFinding(name, true), "the finding resolved by the inventory");
    expect(await stopFinding(name, false)).toBeUndefined();
  });
});
