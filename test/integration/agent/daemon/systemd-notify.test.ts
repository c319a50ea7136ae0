/**
 * systemd notifications received the way systemd receives them: a real unix
 * datagram socket (bound by python3, since Node cannot), NOTIFY_SOCKET
 * pointing at it, and the agent or the notifier sending through the real
 * systemd-notify binary.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { SystemdNotifier } from "../../../../agent/daemon/systemd-notify.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

const TOKEN = "test-token-notify";
const cleanups: (() => Promise<void> | void)[] = [];

/** Prints one JSON line per datagram: its text and the sender's pid from SCM_CREDENTIALS. */
const RECEIVER = `
import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64) + socket.CMSG_SPACE(64))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            # BARRIER=1 carries a pipe; closing it, as systemd does, releases the sender.
            fds = array.array("i")
            fds.frombytes(payload[:len(payload) - len(payload) % 4])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"text": data.decode(), "pid": pid}), flush=True)
`;

interface Datagram {
  text: string;
  pid: number | null;
  at: number;
}

class NotifyReceiver {
  readonly datagrams: Datagram[] = [];
  private constructor(readonly socketPath: string, private readonly child: ChildProcess) {}

  static async start(dir: string): Promise<NotifyReceiver> {
    const socketPath = path.join(dir, "notify.sock");
    const child = spawn("python3", ["-c", RECEIVER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
    const receiver = new NotifyReceiver(socketPath, child);
    await new Promise<void>((resolve, reject) => {
      let buffer = "";
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`python3 receiver exited with ${code}`)));
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffer.slice(0, nl)) as { listening?: true; text?: string; pid?: number | null };
          buffer = buffer.slice(nl + 1);
          if (line.listening) resolve();
          else receiver.datagrams.push({ text: line.text!, pid: line.pid ?? null, at: Date.now() });
        }
      });
    });
    return receiver;
  }

  /** Every variable assignment received, in order ("READY=1", "STATUS=...", ...), barriers left out. */
  get assignments(): string[] {
    return this.datagrams.flatMap((d) => d.text.split("\n").filter((a) => a && a !== "BARRIER=1"));
  }

  get barriers(): number {
    return this.datagrams.filter((d) => d.text === "BARRIER=1").length;
  }

  async waitFor(predicate: (assignments: string[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.assignments)) {
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.assignments)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

beforeAll(() => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("the agent under Type=notify", () => {
  it("sends STATUS while starting, READY=1 once connected and reported, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1", async () => {
    const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
    cleanups.push(() => peer.close());
    const dirs = tempAgentDir(TOKEN);
    cleanups.push(() => dirs.cleanup());
    const receiver = await NotifyReceiver.start(dirs.dir);
    cleanups.push(() => receiver.stop());

    const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
      env: { NOTIFY_SOCKET: receiver.socketPath, WATCHDOG_USEC: "400000" } });
    cleanups.push(async () => { await agent.stop(); });

    await receiver.waitFor((a) => a.includes("READY=1"), "READY=1");
    const readyAt = receiver.datagrams.find((d) => d.text.includes("READY=1"))!.at;
    // Ready only after the first inventory went out.
    expect(peer.inventories[0]!.at).toBeLessThanOrEqual(readyAt);
    const ready = receiver.datagrams.find((d) => d.text.includes("READY=1"))!.text;
    expect(ready).toMatch(/STATUS=libvirt test:\/\/\/default connected; connected to controller ws:\/\/127\.0\.0\.1:\d+\/v1\/agent; 0 events spooled/);
    expect(receiver.assignments[0]).toMatch(/^STATUS=connecting to libvirt test:\/\/\/default/);

    await receiver.waitFor((a) => a.filter((x) => x === "WATCHDOG=1").length >= 6, "six watchdog pings", 5_000);
    const pings = receiver.datagrams.filter((d) => d.text === "WATCHDOG=1");
    // Each notification waited for systemd (here: the receiver) to process it.
    expect(receiver.barriers).toBeGreaterThanOrEqual(pings.length);
    const gaps = pings.slice(1).map((d, i) => d.at - pings[i]!.at).sort((a, b) => a - b);
    // Every WATCHDOG_USEC/2 = 200 ms (the median, so that one slow process start on a busy machine does not count).
    const median = gaps[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThan(150);
    expect(median).toBeLessThan(300);
    // As root systemd-notify claims its parent's pid, so systemd attributes every message to the agent.
    // (The barrier itself comes from the child, and only needs the child alive.)
    if (process.getuid?.() === 0) {
      expect(new Set(receiver.datagrams.filter((d) => d.text !== "BARRIER=1").map((d) => d.pid))).toEqual(new Set([agent.pid]));
    }

    await peer.goAway();
    await receiver.waitFor((a) => a.some((x) => /^STATUS=.*controller (connection lost|unreachable), retrying in \d+ s/.test(x)),
      "a retrying status");

    expect((await agent.stop()).code).toBe(0);
    await receiver.waitFor((a) => a.includes("STOPPING=1"), "STOPPING=1", 2_000);
    expect(agent.logs.filter((l) => l.code === "NS_ERR_SYSTEMD_NOTIFY")).toEqual([]);
  });

  it("with libvirtd down: READY=1 once the controller has the first report, and WATCHDOG=1 all along (no restart loop)", async () => {
    const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
    cleanups.push(() => peer.close());
    const dirs = tempAgentDir(TOKEN);
    cleanups.push(() => dirs.cleanup());
    const receiver = await NotifyReceiver.start(dirs.dir);
    cleanups.push(() => receiver.stop());
    const socket = path.join(dirs.dir, "no-libvirt-sock");

    const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, uri: "qemu:///system",
      env: { NOTIFY_SOCKET: receiver.socketPath, WATCHDOG_USEC: "400000", NIGHTSHIFT_AGENT_LIBVIRT_SOCKET: socket } });
    cleanups.push(async () => { await agent.stop(); });

    await receiver.waitFor((a) => a.includes("READY=1"), "READY=1");
    const readyAt = receiver.datagrams.find((d) => d.text.includes("READY=1"))!.at;
    // The controller was told libvirt's state before the agent called itself ready.
    const told = peer.messages.find((m) => m.message.type === "libvirt-state");
    expect(told, "a libvirt-state message").toBeDefined();
    expect(told!.at).toBeLessThanOrEqual(readyAt);
    expect(told!.message).toMatchObject({ state: "unreachable", code: "NS_ERR_LIBVIRT_SOCKET_MISSING" });
    expect(peer.hellos[0]!.message.libvirtVersion).toBe("unknown");
    const ready = receiver.datagrams.find((d) => d.text.includes("READY=1"))!.text;
    expect(ready).toMatch(/STATUS=libvirt qemu:\/\/\/system unreachable, retrying in [\d.]+ m?s; connected to controller ws:\/\/127\.0\.0\.1:\d+\/v1\/agent; 0 events spooled/);

    // libvirt stays down; the agent's own loops run, so the watchdog is fed every WATCHDOG_USEC/2 all the same.
    const pingsFrom = receiver.datagrams.length;
    await receiver.waitFor((a) => a.filter((x) => x === "WATCHDOG=1").length >= 8, "eight watchdog pings", 5_000);
    const pings = receiver.datagrams.slice(pingsFrom).filter((d) => d.text === "WATCHDOG=1");
    const gaps = pings.slice(1).map((d, i) => d.at - pings[i]!.at).sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]!).toBeLessThan(300);
    expect(agent.logs.filter((l) => /watchdog ping withheld/.test(l.msg))).toEqual([]);
    // It kept trying libvirt meanwhile.
    expect(agent.logs.filter((l) => l.code === "NS_ERR_LIBVIRT_SOCKET_MISSING").length).toBeGreaterThan(1);

    expect((await agent.stop()).code).toBe(0);
    await receiver.waitFor((a) => a.includes("STOPPING=1"), "STOPPING=1", 2_000);
  });
});

describe("SystemdNotifier", () => {
  const logger = pino({ level: "silent" });

  it("is a no-op without NOTIFY_SOCKET", async () => {
    const notifier = new SystemdNotifier({ logger, env: { WATCHDOG_USEC: "100000" } });
    notifier.ready("x");
    notifier.status("y");
    notifier.startWatchdog(() => null);
    await notifier.close();
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogMs).toBeNull();
    expect(notifier.count).toBe(0);
  });

  it("withholds WATCHDOG=1 while stuck, and sends each distinct status once, in order", async () => {
    const dirs = tempAgentDir("unused");
    cleanups.push(() => dirs.cleanup());
    const receiver = await NotifyReceiver.start(dirs.dir);
    cleanups.push(() => receiver.stop());
    const notifier = new SystemdNotifier({ logger, env: { ...process.env, NOTIFY_SOCKET: receiver.socketPath, WATCHDOG_USEC: "100000" } });
    let healthy = false;
    notifier.status("one");
    notifier.status("one");
    notifier.status("two");
    notifier.startWatchdog(() => (healthy ? null : "stuck for the test"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.assignments).toEqual(["STATUS=one", "STATUS=two"]);
    healthy = true;
    await receiver.waitFor((a) => a.filter((x) => x === "WATCHDOG=1").length >= 2, "watchdog pings once healthy", 2_000);
    await notifier.close();
  });

  it("ignores a watchdog meant for another process (WATCHDOG_PID)", () => {
    const notifier = new SystemdNotifier({ logger, env: { NOTIFY_SOCKET: "/nonexistent", WATCHDOG_USEC: "100000", WATCHDOG_PID: "1" } });
    expect(notifier.watchdogMs).toBeNull();
  });
});
