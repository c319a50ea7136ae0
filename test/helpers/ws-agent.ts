/**
 * A hand-driven agent for controller tests: a real WebSocket client that
 * sends whatever the test says (good or bad) and collects validated replies.
 */
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { parseControllerMessage } from "../../shared/protocol/codec.js";
import type { ControllerMessage } from "../../shared/protocol/messages.js";

export class TestAgent {
  readonly received: ControllerMessage[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const parsed = parseControllerMessage(data.toString());
      if (!parsed.ok) throw new Error(`controller sent an invalid message: ${parsed.detail}`);
      this.received.push(parsed.message);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async connect(controllerUrl: string, token: string): Promise<TestAgent> {
    const ws = new WebSocket(controllerUrl.replace("http", "ws") + "/v1/agent", { headers: { Authorization: `Bearer ${token}` } });
    await once(ws, "open");
    return new TestAgent(ws);
  }
  send(obj: unknown): void {
    this.ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
  }
  async next<T extends ControllerMessage["type"]>(type: T, timeoutMs = 3000): Promise<Extract<ControllerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ControllerMessage, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 50); });
    }
  }
  /** Closes and waits until the controller has let the session go, so the host can reconnect. */
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) {
      this.ws.close();
      await once(this.ws, "close");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  hello(host: string): void {
    this.send({ v: 1, type: "hello", host, hostname: `${host}.example`, agentVersion: "0.1.0", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" });
  }
}

/** A plausible inventory entry with one qcow2 disk. */
export function sampleDomain(name: string, uuid = randomUUID()) {
  return { name, uuid, id: 1, state: "running", stateReason: "booted", autostart: true, persistent: true, vcpus: 2,
    memoryKiB: 1048576, maxMemoryKiB: 1048576,
    disks: [{ target: "vda", bus: "virtio", device: "disk", type: "file", source: `/var/lib/libvirt/images/${name}.qcow2`, driverType: "qcow2", readonly: false, shareable: false }] };
}

