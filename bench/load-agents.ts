/**
 * The simulated fleet of bench/controller-load.ts: N agents in one process,
 * each on its own real WebSocket to the controller, speaking protocol v1 as
 * agent/daemon does (hello, wait for welcome, inventory, event batches with
 * at most `inflight` unacked). Run only as a child of the driver, which
 * steps it through the phases over IPC; it lives in its own process so the
 * controller's CPU and RSS figures are the controller's alone.
 *
 * Everything that suggests the controller lost or refused something (an
 * `error` message, an unexpected close, an ack for ids we never sent) is
 * reported to the driver as a `failure`, which fails the run.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { encodeMessage, parseControllerMessage } from "../shared/protocol/codec.js";
import { MAX_MESSAGE_BYTES, type Domain, type DomainEventMessage } from "../shared/protocol/messages.js";
import { PoisonFleet } from "./load-poison.js";
import { monoMs, type AgentsConfig, type AgentsMessage, type DriverMessage, type ExpectedVm, type StreamReport } from "./controller-load-ipc.js";

interface SimVm {
  domain: Domain;
  /** Guest agent channel state, toggled by agent-lifecycle events. */
  guestAgent: "connected" | "disconnected";
}

interface Pending {
  ids: string[];
  sentAt: number;
}

function send(message: AgentsMessage): void {
  process.send?.(message);
}

function fail(message: string): void {
  send({ type: "failure", message });
}

/** A domain as `virt domains --json` reports it: one system disk, every third VM a data volume too. */
function makeDomain(host: string, i: number): Domain {
  const name = `${host}-vm${String(i).padStart(3, "0")}`;
  const running = i % 5 !== 4;
  const disks: Domain["disks"] = [{
    target: "vda", bus: "virtio", device: "disk", type: "file", source: `/var/lib/libvirt/images/${name}-root.qcow2`,
    driverType: "qcow2", readonly: false, shareable: false,
  }];
  if (i % 3 === 0) {
    disks.push({ target: "vdb", bus: "virtio", device: "disk", type: "block", source: `/dev/vg-guests/${name}-data`,
      driverType: "raw", readonly: false, shareable: false });
  }
  return {
    name, uuid: randomUUID(), id: running ? i + 1 : null, state: running ? "running" : "shutoff",
    stateReason: running ? "booted" : "shutdown", autostart: running, persistent: true, vcpus: 1 + (i % 4) * 2,
    memoryKiB: 1048576 * (1 + (i % 8)), maxMemoryKiB: 1048576 * (1 + (i % 8)), disks,
  };
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** The next event a VM would plausibly raise given its state; updates the simulated state like libvirt would. */
function nextEvent(vm: SimVm): DomainEventMessage {
  const d = vm.domain;
  const base = { id: randomUUID(), time: new Date().toISOString(), domain: d.name, uuid: d.uuid };
  const lifecycle = (event: string, detail: string, state: string): DomainEventMessage => {
    d.state = state;
    d.stateReason = detail;
    return { ...base, kind: "lifecycle", event, detail };
  };
  switch (d.state) {
    case "shutoff":
      return lifecycle("started", "booted", "running");
    case "paused":
      return lifecycle("resumed", "unpaused", "running");
    default: {
      const roll = Math.random();
      if (roll < 0.3) return { ...base, kind: "reboot" };
      if (roll < 0.5) {
        vm.guestAgent = vm.guestAgent === "connected" ? "disconnected" : "connected";
        return { ...base, kind: "agent-lifecycle", state: vm.guestAgent, reason: "channel" };
      }
      if (roll < 0.65) return lifecycle("suspended", pick(["paused", "migrated"]), "paused");
      return lifecycle("stopped", pick(["shutdown", "destroyed"]), "shutoff");
    }
  }
}

class SimAgent {
  ws: WebSocket | null = null;
  welcomed = false;
  closing = false;
  readonly vms: SimVm[];
  private readonly pending = new Map<string, Pending>();

  constructor(readonly host: string, private readonly token: string, private readonly fleet: Fleet) {
    this.vms = Array.from({ length: fleet.config.vmsPerAgent }, (_, i) => ({ domain: makeDomain(host, i), guestAgent: "connected" as const }));
  }

  get inflight(): number {
    return this.pending.size;
  }

  connect(): void {
    const ws = new WebSocket(this.fleet.config.url, {
      headers: { Authorization: `Bearer ${this.token}` }, maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 30_000,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on("open", () => {
      this.fleet.onOpen();
      ws.send(encodeMessage({ type: "hello", host: this.host, hostname: `${this.host}.bench.example`, agentVersion: "0.1.0-bench",
        libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" }));
    });
    ws.on("message", (data) => this.receive(data.toString()));
    ws.on("unexpected-response", (_req, res) => fail(`${this.host}: upgrade refused with HTTP ${res.statusCode}`));
    ws.on("error", (err) => fail(`${this.host}: WebSocket error: ${err.message}`));
    ws.on("close", (code, reason) => {
      if (!this.closing) fail(`${this.host}: controller closed the connection (${code} ${reason.toString()})`);
      this.fleet.onClosed();
    });
  }

  private receive(text: string): void {
    const parsed = parseControllerMessage(text);
    if (!parsed.ok) {
      fail(`${this.host}: invalid message from the controller: ${parsed.detail}`);
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case "welcome":
        if (this.welcomed) fail(`${this.host}: second welcome`);
        if (m.host !== this.host) fail(`${this.host}: welcome names host ${m.host}`);
        this.welcomed = true;
        this.fleet.onWelcome();
        this.ws!.send(encodeMessage({ type: "inventory", collectedAt: new Date().toISOString(), domains: this.vms.map((v) => v.domain) }));
        this.fleet.onInventorySent();
        return;
      case "error":
        fail(`${this.host}: controller error ${m.code}: ${m.message}`);
        return;
      case "ack":
        this.onAck(m.ids);
        return;
    }
  }

  private onAck(ids: string[]): void {
    const first = ids[0];
    const batch = first === undefined ? undefined : this.pending.get(first);
    if (!batch || batch.ids.length !== ids.length || batch.ids.some((id, i) => id !== ids[i])) {
      fail(`${this.host}: ack for ids that were not one outstanding batch (${ids.length} ids, first ${first})`);
      return;
    }
    this.pending.delete(first!);
    this.fleet.onAck(ids.length, monoMs() - batch.sentAt);
    if (this.fleet.streaming) this.sendBatch();
  }

  sendBatch(): void {
    const events: DomainEventMessage[] = [];
    for (let i = 0; i < this.fleet.config.eventsPerBatch; i++) events.push(nextEvent(pick(this.vms)));
    this.pending.set(events[0]!.id, { ids: events.map((e) => e.id), sentAt: monoMs() });
    this.ws!.send(encodeMessage({ type: "events", events }));
    this.fleet.eventsSent += events.length;
  }

  close(): void {
    this.closing = true;
    this.ws?.close(1000, "bench done");
  }
}

class Fleet {
  readonly agents: SimAgent[];
  readonly poison: PoisonFleet;
  streaming = false;
  eventsSent = 0;
  private opened = 0;
  private welcomed = 0;
  private inventoriesSent = 0;
  private closed = 0;
  private connectReport = { t0: 0, allOpenAt: 0, allWelcomedAt: 0, allInventoriesSentAt: 0 };
  private window = { start: 0, end: Infinity };
  private acked = { events: 0, eventsInWindow: 0, batchesInWindow: 0 };
  private readonly latencies: number[] = [];
  private readonly perSecond: number[] = [];
  private waiter: (() => void) | null = null;

  constructor(readonly config: AgentsConfig) {
    this.agents = config.hosts.map((h) => new SimAgent(h.name, h.token, this));
    this.poison = new PoisonFleet(config.url, config.poison);
  }

  /** Every agent at once: the thundering herd after a controller restart is the harsh case. */
  connectAll(): void {
    this.connectReport.t0 = monoMs();
    for (const a of this.agents) a.connect();
    this.poison.connectAll(() => {}, fail);
  }

  onOpen(): void {
    if (++this.opened === this.agents.length) this.connectReport.allOpenAt = monoMs();
  }

  onWelcome(): void {
    if (++this.welcomed === this.agents.length) this.connectReport.allWelcomedAt = monoMs();
  }

  onInventorySent(): void {
    if (++this.inventoriesSent === this.agents.length) {
      this.connectReport.allInventoriesSentAt = monoMs();
      send({ type: "connected", report: { ...this.connectReport } });
    }
  }

  onAck(events: number, latencyMs: number): void {
    const now = monoMs();
    this.acked.events += events;
    this.latencies.push(latencyMs);
    if (now >= this.window.start && now <= this.window.end) {
      this.acked.eventsInWindow += events;
      this.acked.batchesInWindow++;
      const second = Math.floor((now - this.window.start) / 1000);
      this.perSecond[second] = (this.perSecond[second] ?? 0) + events;
    }
    this.waiter?.();
  }

  onClosed(): void {
    this.closed++;
    this.waiter?.();
  }

  private async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = monoMs() + timeoutMs;
    while (!condition()) {
      if (monoMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
    this.waiter = null;
  }

  async stream(seconds: number): Promise<StreamReport> {
    this.streaming = true;
    this.window.start = monoMs();
    send({ type: "window-start", at: this.window.start });
    for (const a of this.agents) for (let i = 0; i < this.config.inflight; i++) a.sendBatch();
    this.poison.start();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    this.window.end = monoMs();
    this.streaming = false;
    this.poison.stop();
    send({ type: "window-end", at: this.window.end });
    // What is in flight now must still be stored and acked; the driver cross-checks the total.
    await this.until(() => this.agents.every((a) => a.inflight === 0), 60_000, "the last acks");
    const sorted = this.latencies.slice().sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    return {
      windowStart: this.window.start, windowEnd: this.window.end,
      eventsAckedInWindow: this.acked.eventsInWindow, batchesAckedInWindow: this.acked.batchesInWindow,
      eventsAckedTotal: this.acked.events,
      // The last, partial second is left out.
      perSecond: Array.from({ length: Math.floor((this.window.end - this.window.start) / 1000) }, (_, i) => this.perSecond[i] ?? 0),
      eventsSent: this.eventsSent, drainedAt: monoMs(),
      ackLatencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted[sorted.length - 1] ?? 0 },
      poison: { ...this.poison.report },
    };
  }

  expected(): ExpectedVm[] {
    return this.agents.flatMap((a) => a.vms.map((v) => ({
      host: a.host, name: v.domain.name, uuid: v.domain.uuid, disks: v.domain.disks.length, state: v.domain.state,
    })));
  }

  async closeAll(): Promise<void> {
    for (const a of this.agents) a.close();
    this.poison.closeAll();
    await this.until(() => this.closed === this.agents.length, 10_000, "every connection to close").catch(() => {});
  }
}

let fleet: Fleet | null = null;

async function handle(message: DriverMessage): Promise<void> {
  switch (message.type) {
    case "config":
      fleet = new Fleet(message.config);
      send({ type: "ready" });
      return;
    case "connect":
      fleet!.connectAll();
      return;
    case "stream":
      send({ type: "streamed", report: await fleet!.stream(message.seconds) });
      return;
    case "expected":
      send({ type: "expected", vms: fleet!.expected() });
      return;
    case "close":
      await fleet!.closeAll();
      process.send!({ type: "closed" } satisfies AgentsMessage, () => process.exit(0));
      return;
  }
}

if (!process.send) {
  process.stderr.write("load-agents: run by bench/controller-load.js, not directly\n");
  process.exit(2);
}
process.on("message", (message: DriverMessage) => {
  handle(message).catch((err: unknown) => fail(`agents process: ${err instanceof Error ? err.message : String(err)}`));
});
// The driver gone means the run is over, whatever state it left us in.
process.on("disconnect", () => process.exit(0));
