/**
 * Steps through the real daemon: `nightshift-agent run` as a process (libvirt
 * test driver) and a WebSocket peer on a real port playing the controller. The
 * peer sends `step` frames and checks every `step-result` against the
 * protocol's schemas; the agent's config (maintenance.*) comes from its
 * environment, as on a host.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { encodeMessage, parseAgentMessage } from "../../../../shared/protocol/codec.js";
import { checkAgentFrame, listRefused } from "../../../../shared/protocol/items.js";
import type { StepResultMessage } from "../../../../shared/protocol/messages.js";
import type { StepAction } from "../../../../shared/protocol/steps.js";
import { snapshotName } from "../../../../shared/runs.js";
import { removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { AgentProcess, tempAgentDir } from "../daemon/agent-process.js";

const TOKEN = "test-token-steps";
const prefix = testPrefix("agentsteps");

/** The controller's side, reduced to what steps need: welcome, acks, sending steps, collecting results per connection. */
class StepPeer {
  readonly results: { connection: number; message: StepResultMessage }[] = [];
  readonly invalid: string[] = [];
  private readonly server = http.createServer((_req, res) => { res.writeHead(404).end(); });
  private readonly wss = new WebSocketServer({ noServer: true });
  private current: WebSocket | null = null;
  private connections = 0;
  welcomed = 0;

  async start(): Promise<void> {
    this.server.on("upgrade", (req, socket, head) => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/agent`;
  }

  send(id: string, action: StepAction, resume = false): void {
    if (!this.current) throw new Error("no agent connected");
    this.current.send(encodeMessage({ type: "step", id, resume, action }));
  }

  sendRaw(frame: unknown): void {
    this.current!.send(JSON.stringify(frame));
  }

  /** Cuts the agent off, as a controller restart or a network failure would. */
  dropConnection(): void {
    this.current?.terminate();
    this.current = null;
  }

  resultsFor(id: string): { connection: number; message: StepResultMessage }[] {
    return this.results.filter((r) => r.message.id === id);
  }

  async waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`step peer: no ${what} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(ws: WebSocket): void {
    const connection = ++this.connections;
    this.current = ws;
    ws.on("message", (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) {
        this.invalid.push(`${parsed.detail}: ${data.toString().slice(0, 500)}`);
        return;
      }
      const { message, refused } = checkAgentFrame(parsed.message);
      if (refused.length > 0) this.invalid.push(`${listRefused(refused)}: ${data.toString().slice(0, 500)}`);
      if (message.type === "hello") {
        this.welcomed++;
        ws.send(encodeMessage({ type: "welcome", sessionId: randomUUID(), host: message.host, inventoryIntervalSeconds: 300, heartbeatSeconds: 1 }));
      } else if (message.type === "events") {
        ws.send(encodeMessage({ type: "ack", ids: message.events.map((e) => e.id) }));
      } else if (message.type === "events-lost") {
        ws.send(encodeMessage({ type: "ack", ids: [message.id] }));
      } else if (message.type === "step-result") {
        this.results.push({ connection, message });
      }
    });
  }
}

let conn: LibvirtConnection;
let peer: StepPeer;
let agent: AgentProcess;
let dirs: ReturnType<typeof tempAgentDir>;
let hook: string;
let hookLog: string;
const vm = `${prefix}vm`;
/** A run id of the controller's shape, and the snapshot name the agent gives the VM for it (it takes no other). */
const RUN = "20261123-020501-3fa9";
const PRE = snapshotName(RUN, vm);

beforeAll(async () => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  await conn.domainDefineXML(testDriverDomainXml(vm));
  peer = new StepPeer();
  await peer.start();
  dirs = tempAgentDir(TOKEN);
  hookLog = path.join(dirs.dir, "hook.log");
  hook = path.join(dirs.dir, "slow-hook");
  // Each run leaves a line, so the test can count how often the hook ran.
  fs.writeFileSync(hook, `#!/bin/sh\necho "$1 $NIGHTSHIFT_RUN_ID" >> ${hookLog}\nsleep 2\necho done\n`, { mode: 0o755 });
  agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, env: {
    NIGHTSHIFT_AGENT_MAINTENANCE_GUEST_COMMANDS: '["apt-get -y upgrade", "printf a,b"]',
    NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS: hook,
  } });
  await agent.waitForLibvirt();
  await peer.waitFor(() => peer.welcomed >= 1, "hello");
});

afterEach(() => {
  expect(peer.invalid).toEqual([]);
});

afterAll(async () => {
  await agent?.stop();
  await peer?.close();
  dirs?.cleanup();
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
});

describe("steps through the agent daemon", () => {
  it("answers a step with one step-result, and a repeated id from memory without running it again", async () => {
    const id = `create-${randomUUID()}`;
    const action: StepAction = { kind: "snapshot-create", vm, name: PRE, description: "before", mode: "internal" };
    peer.send(id, action);
    await peer.waitFor(() => peer.resultsFor(id).length === 1, "step-result");
    const first = peer.resultsFor(id)[0]!.message;
    expect(first.outcome).toMatchObject({ ok: true, result: { name: PRE, created: true } });

    // Run again, the same step would now find the snapshot and say created: false.
    peer.send(id, action);
    peer.send(id, action, true);
    await peer.waitFor(() => peer.resultsFor(id).length === 3, "two more step-results");
    expect(peer.resultsFor(id).map((r) => r.message.outcome)).toEqual([first.outcome, first.outcome, first.outcome]);
    expect((await conn.domainListAllSnapshots(await conn.domainLookupByName(vm))).map((s) => s.name)).toEqual([PRE]);
    expect(agent.logs.filter((l) => l.msg === "step started" && l.stepId === id)).toHaveLength(1);
    const done = agent.logs.find((l) => l.msg === "step finished" && l.stepId === id)!;
    expect(done).toMatchObject({ kind: "snapshot-create", vm, ok: true, durationMs: expect.any(Number) });
  });

  it("answers resume of an unknown id with NS_ERR_STEP_UNKNOWN", async () => {
    const id = `unknown-${randomUUID()}`;
    peer.send(id, { kind: "snapshot-delete", vm, name: PRE }, true);
    await peer.waitFor(() => peer.resultsFor(id).length === 1, "step-result");
    expect(peer.resultsFor(id)[0]!.message.outcome).toMatchObject({ ok: false, error: { code: "NS_ERR_STEP_UNKNOWN" } });
    expect((await conn.domainListAllSnapshots(await conn.domainLookupByName(vm))).map((s) => s.name)).toEqual([PRE]);
  });

  it("applies the maintenance config from the environment", async () => {
    const id = `check-${randomUUID()}`;
    peer.send(id, { kind: "check-allowed", vm, guestCommands: ["apt-get -y upgrade", "printf a,b", "reboot"], hooks: [hook, "/bin/true"] });
    await peer.waitFor(() => peer.resultsFor(id).length === 1, "step-result");
    expect(peer.resultsFor(id)[0]!.message.outcome).toEqual({ ok: true, result: { deniedCommands: ["reboot"], deniedHooks: ["/bin/true"],
      refusals: [{ item: "reboot", reason: expect.stringMatching(/maintenance\.guestCommands/) },
        { item: "/bin/true", reason: expect.stringMatching(/maintenance\.hooks/) }] } });
  });

  it("answers a step it cannot read with an error instead of leaving it unanswered", async () => {
    const id = `future-${randomUUID()}`;
    peer.sendRaw({ v: 1, type: "step", id, resume: false, action: { kind: "migrate", vm, to: "host2" } });
    await peer.waitFor(() => peer.resultsFor(id).length === 1, "step-result");
    const outcome = peer.resultsFor(id)[0]!.message.outcome;
    expect(outcome).toMatchObject({ ok: false, error: { code: "NS_ERR_STEP_FAILED" } });
    expect(!outcome.ok && outcome.error.message).toMatch(new RegExp(`cannot read step ${id}: .*action\\.kind.*nothing was run`));
    expect(agent.running).toBe(true);
  });

  it("sends a result on the session open when the step finishes, after the one that asked was lost; the hook ran once", async () => {
    const id = `hook-${randomUUID()}`;
    peer.send(id, { kind: "hook", vm, path: hook, runId: RUN, timeoutMs: 10_000 });
    await agent.waitForLog((l) => l.msg === "step started" && l.stepId === id, "the hook step starting");
    peer.dropConnection();
    await peer.waitFor(() => peer.welcomed >= 2, "the agent's reconnect", 5_000);
    await peer.waitFor(() => peer.resultsFor(id).length === 1, "the hook's step-result", 10_000);
    const [result] = peer.resultsFor(id);
    expect(result!.connection).toBe(2);
    expect(result!.message.outcome).toMatchObject({ ok: true, result: { exitCode: 0, stdout: "done\n" } });
    // The controller, unsure, resumes: answered from memory.
    peer.send(id, { kind: "hook", vm, path: hook, runId: RUN, timeoutMs: 10_000 }, true);
    await peer.waitFor(() => peer.resultsFor(id).length === 2, "the resumed step-result");
    expect(peer.resultsFor(id)[1]!.message.outcome).toEqual(result!.message.outcome);
    expect(fs.readFileSync(hookLog, "utf8")).toBe(`${vm} ${RUN}\n`);
  });
});
