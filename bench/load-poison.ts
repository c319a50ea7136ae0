/**
 * Poisoning agents for bench/controller-load.ts: enrolled hosts on real
 * WebSockets that, while the honest fleet streams events, send one kind of
 * inventory over and over, `inflight` of them unanswered at a time, each
 * answered by the controller with an `error`. They measure what a hostile
 * agent costs the honest ones; their answers are counted, never failures.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { encodeMessage, parseControllerMessage } from "../shared/protocol/codec.js";
import { MAX_MESSAGE_BYTES } from "../shared/protocol/messages.js";
import type { HostCredentials, PoisonConfig, PoisonKind, PoisonReport } from "./controller-load-ipc.js";

function poisonedDomains(host: string, kind: PoisonKind): unknown[] {
  const disk = (source: string) => ({ target: "vda", bus: "virtio", device: "disk", type: "file", source, driverType: "qcow2",
    readonly: false, shareable: false });
  const vm = { name: `${host}-twin-disks`, uuid: randomUUID(), id: 1, state: "running", stateReason: "booted", autostart: true,
    persistent: true, vcpus: 1, memoryKiB: 1048576, maxMemoryKiB: 1048576, disks: [disk("/images/a.qcow2"), disk("/images/b.qcow2")] };
  return kind === "duplicate-disk" ? [vm] : [null];
}

class PoisonAgent {
  private ws: WebSocket | null = null;
  private welcomed = false;
  private running = false;
  private closing = false;
  private outstanding = 0;
  private readonly frame: string;

  constructor(private readonly host: HostCredentials, private readonly fleet: PoisonFleet) {
    this.frame = encodeMessage({ type: "inventory", collectedAt: new Date().toISOString(),
      domains: poisonedDomains(host.name, fleet.config.kind) as never });
  }

  connect(onWelcome: () => void, fail: (message: string) => void): void {
    const ws = new WebSocket(this.fleet.url, {
      headers: { Authorization: `Bearer ${this.host.token}` }, maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 30_000, perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on("open", () => ws.send(encodeMessage({ type: "hello", host: this.host.name, hostname: `${this.host.name}.bench.example`,
      agentVersion: "0.1.0-poison", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" })));
    ws.on("message", (data) => {
      const parsed = parseControllerMessage(data.toString());
      if (!parsed.ok) return;
      const m = parsed.message;
      if (m.type === "welcome" && !this.welcomed) {
        this.welcomed = true;
        onWelcome();
      } else if (m.type === "error") {
        this.outstanding = Math.max(0, this.outstanding - 1);
        this.fleet.report.answered++;
        this.fleet.report.answers[m.code] = (this.fleet.report.answers[m.code] ?? 0) + 1;
        if (this.running) this.fill();
      }
    });
    ws.on("error", (err) => fail(`${this.host.name} (poisoning): WebSocket error: ${err.message}`));
    ws.on("close", (code) => {
      if (!this.closing) fail(`${this.host.name} (poisoning): controller closed the connection (${code})`);
    });
  }

  start(): void {
    this.running = true;
    this.fill();
  }

  stop(): void {
    this.running = false;
  }

  private fill(): void {
    while (this.outstanding < this.fleet.config.inflight && this.ws?.readyState === WebSocket.OPEN) {
      this.outstanding++;
      this.fleet.report.sent++;
      this.ws.send(this.frame);
    }
  }

  close(): void {
    this.closing = true;
    this.ws?.close(1000, "bench done");
  }
}

export class PoisonFleet {
  readonly report: PoisonReport = { sent: 0, answered: 0, answers: {} };
  private readonly agents: PoisonAgent[];

  constructor(readonly url: string, readonly config: PoisonConfig) {
    this.agents = config.hosts.map((h) => new PoisonAgent(h, this));
  }

  get size(): number {
    return this.agents.length;
  }

  connectAll(onWelcome: () => void, fail: (message: string) => void): void {
    for (const a of this.agents) a.connect(onWelcome, fail);
  }

  start(): void {
    for (const a of this.agents) a.start();
  }

  stop(): void {
    for (const a of this.agents) a.stop();
  }

  closeAll(): void {
    for (const a of this.agents) a.close();
  }
}
