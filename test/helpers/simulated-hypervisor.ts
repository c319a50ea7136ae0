/**
 * A scripted agent for run-engine tests: a real WebSocket agent (TestAgent)
 * that answers `step` messages from a small simulation of VMs (state, a
 * version file, snapshots) instead of libvirt. It exercises the controller's
 * logic (ordering, rules, resume, timeouts) quickly and deterministically;
 * tests with real guests and the real agent cover the real thing.
 */
import type { StepAction } from "../../shared/protocol/steps.js";
import type { StepRequest } from "../../shared/protocol/messages.js";
import { TestAgent, sampleDomain } from "./ws-agent.js";

export interface SimVm {
  name: string;
  state: "running" | "shutoff";
  version: string;
  snapshots: Map<string, string>;
  /** The patch makes verify fail on this VM (it writes a version verify does not accept). */
  breaksOnPatch?: boolean;
  /** A second disk, vdb, a raw image file: an internal snapshot cannot take it, a disk-only one can. */
  rawDisk?: boolean;
  /**
   * An operator's snapshot is on this VM under the name the run asks for, without the agent's marker: snapshot-create
   * finds it and refuses with NS_ERR_STEP_SNAPSHOT_NOT_OURS, as the agent does; revert and delete refuse it too.
   */
  lookAlikeSnapshot?: boolean;
}

export interface SimOptions {
  /** Milliseconds each patch takes. */
  patchMs?: number;
  /** Milliseconds each reboot takes. */
  rebootMs?: number;
  /** Milliseconds each wait for the guest agent takes. */
  guestAgentWaitMs?: number;
  /** Requests this says true for are lost on the way: neither carried out nor answered. */
  drop?(request: StepRequest): boolean;
  /** Called for every step before it is simulated; return a result or error to override. */
  override?(action: StepAction): { ok: true; result: Record<string, unknown> } | { ok: false; code: string; message: string } | undefined;
}

type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: { code: string; message: string } };

export class SimulatedHypervisor {
  readonly vms = new Map<string, SimVm>();
  readonly steps: StepRequest[] = [];
  /** The actions actually carried out, one entry per execution (a repeated or resumed id adds none). */
  readonly executed: StepAction[] = [];
  /** Executions by step id, so a repeated or resumed id is answered from the same one (as the real agent does). */
  private readonly executions = new Map<string, Promise<Outcome>>();
  /** Snapshots that are not nightshift's ("vm/name"): the agent refuses to take, revert to or delete them. */
  private readonly notOurs = new Set<string>();
  agent: TestAgent | null = null;
  private pump: Promise<void> | null = null;
  private closed = false;

  constructor(readonly host: string, vmNames: string[], private readonly options: SimOptions = {}) {
    for (const name of vmNames) this.vms.set(name, { name, state: "running", version: "v1", snapshots: new Map() });
  }

  async connect(controllerUrl: string, token: string): Promise<void> {
    this.closed = false;
    const agent = await TestAgent.connect(controllerUrl, token);
    this.agent = agent;
    agent.hello(this.host);
    await agent.next("welcome");
    agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [...this.vms.keys()].map((n) => sampleDomain(n)) });
    this.pump = this.serve(agent);
  }

  /** Drops the connection without answering what is in flight (an agent that died). */
  async disconnect(): Promise<void> {
    this.closed = true;
    const agent = this.agent;
    this.agent = null;
    agent?.ws.terminate();
    await this.pump?.catch(() => {});
  }

  /** Forgets every execution (an agent process that restarted). */
  forgetExecutions(): void {
    this.executions.clear();
  }

  private async serve(agent: TestAgent): Promise<void> {
    while (!this.closed && agent === this.agent) {
      let request: StepRequest;
      try {
        request = await agent.next("step", 200);
      } catch {
        continue;
      }
      this.steps.push(request);
      if (this.options.drop?.(request)) continue;
      void this.answer(agent, request);
    }
  }

  private async answer(agent: TestAgent, request: StepRequest): Promise<void> {
    let execution = this.executions.get(request.id);
    if (!execution) {
      if (request.resume) {
        execution = Promise.resolve({ ok: false, error: { code: "NS_ERR_STEP_UNKNOWN", message: `step ${request.id} is unknown here` } });
      } else {
        execution = this.execute(request.action);
        this.executions.set(request.id, execution);
      }
    }
    const outcome = await execution;
    // Answer on whatever connection is live now, as the real agent does.
    const live = this.agent;
    if (live && live.ws.readyState === live.ws.OPEN) live.send({ v: 1, type: "step-result", id: request.id, outcome });
    void agent;
  }

  private async execute(action: StepAction): Promise<Outcome> {
    this.executed.push(action);
    const forced = this.options.override?.(action);
    if (forced) return forced.ok ? forced : { ok: false, error: { code: forced.code, message: forced.message } };
    const vm = this.vms.get(action.vm);
    if (!vm) return { ok: false, error: { code: "NS_ERR_STEP_NO_VM", message: `no VM ${action.vm}` } };
    const ok = (result: Record<string, unknown>): Outcome => ({ ok: true, result });
    const exec = (stdout: string, exitCode = 0) => ok({ exitCode, signal: null, stdout, stderr: "", truncated: false, durationMs: 5 });
    switch (action.kind) {
      case "inspect": {
        const disks: Record<string, unknown>[] = [{ target: "vda", type: "file", device: "disk", driverType: "qcow2", source: `/images/${vm.name}.qcow2`,
          snapshotable: true, reason: null, diskOnlySnapshotable: true, diskOnlyReason: null }];
        if (vm.rawDisk) {
          disks.push({ target: "vdb", type: "file", device: "disk", driverType: "raw", source: `/images/${vm.name}-data.img`,
            snapshotable: false, reason: "raw image: internal snapshots need qcow2", diskOnlySnapshotable: true,
            diskOnlyReason: null });
        }
        return ok({ uuid: "00000000-0000-0000-0000-000000000000", state: vm.state, stateReason: "booted", persistent: true, memoryKiB: 1024,
          disks, passthrough: [], snapshots: [...vm.snapshots.keys()], guestAgent: vm.state === "running" });
      }
      case "check-allowed": return ok({ deniedCommands: [], deniedHooks: [] });
      case "guest-ping": return vm.state === "running" ? ok({ durationMs: 1 }) : { ok: false, error: { code: "NS_ERR_STEP_GUEST_AGENT", message: "not running" } };
      case "wait-guest-agent": {
        if (this.options.guestAgentWaitMs) await new Promise((r) => setTimeout(r, this.options.guestAgentWaitMs));
        return ok({ waitedMs: this.options.guestAgentWaitMs ?? 10 });
      }
      case "guest-users": return ok({ users: [] });
      case "guest-uptime": return ok({ uptimeSeconds: 100, detail: "/proc/uptime" });
      case "reboot-required": return ok({ required: false, detail: "no /run/reboot-required" });
      case "disk-space": {
        // Memory (1 GiB here) counts for an internal snapshot only; a raw disk is measured only for a disk-only one.
        const memory = (action.mode ?? "internal") === "internal" ? 2 ** 30 : 0;
        const disks = [{ target: "vda", source: `/images/${vm.name}.qcow2`, availableBytes: 10e9, neededBytes: memory + 1e8 }];
        if (vm.rawDisk && action.mode === "disk-only-quiesce") {
          disks.push({ target: "vdb", source: `/images/${vm.name}-data.img`, availableBytes: 10e9, neededBytes: 1e8 });
        }
        return ok({ disks });
      }
      case "snapshot-create": {
        if (vm.lookAlikeSnapshot && !vm.snapshots.has(action.name)) {
          vm.snapshots.set(action.name, "operator's");
          this.notOurs.add(`${vm.name}/${action.name}`);
        }
        if (this.notOurs.has(`${vm.name}/${action.name}`)) return this.notOursError(vm.name, action.name, "take it for a snapshot of its own");
        const created = !vm.snapshots.has(action.name);
        if (created) vm.snapshots.set(action.name, vm.version);
        return ok({ name: action.name, created, withMemory: true, durationMs: 5 });
      }
      case "snapshot-exists": return ok({ exists: vm.snapshots.has(action.name) });
      case "snapshot-revert": {
        if (this.notOurs.has(`${vm.name}/${action.name}`)) return this.notOursError(vm.name, action.name, "revert to it");
        const version = vm.snapshots.get(action.name);
        if (version === undefined) return { ok: false, error: { code: "NS_ERR_STEP_LIBVIRT", message: "no such snapshot" } };
        vm.version = version;
        vm.state = "running";
        return ok({ state: "running", durationMs: 5 });
      }
      case "snapshot-delete":
        if (this.notOurs.has(`${vm.name}/${action.name}`)) return this.notOursError(vm.name, action.name, "delete it");
        return ok({ deleted: vm.snapshots.delete(action.name) });
      case "snapshot-discard": {
        const version = vm.snapshots.get(action.name);
        if (version === undefined) return ok({ discarded: false });
        if (vm.state !== "shutoff") return { ok: false, error: { code: "NS_ERR_STEP_VM_NOT_SHUT_OFF", message: `VM ${vm.name} is running` } };
        vm.version = version;
        vm.snapshots.delete(action.name);
        return ok({ discarded: true });
      }
      case "start": {
        const started = vm.state !== "running";
        vm.state = "running";
        return ok({ started });
      }
      case "reboot": {
        if (this.options.rebootMs) await new Promise((r) => setTimeout(r, this.options.rebootMs));
        return ok({ rebootedInMs: this.options.rebootMs ?? 20 });
      }
      case "tcp-check": return ok({ address: "192.0.2.10", connectMs: 1 });
      case "hook":
      case "guest-exec": {
        const command = action.kind === "guest-exec" ? action.command : action.path;
        if (command.startsWith("cat ")) return exec(`${vm.version}\n`);
        if (this.options.patchMs) await new Promise((r) => setTimeout(r, this.options.patchMs));
        vm.version = vm.breaksOnPatch ? "broken" : "v2";
        return exec("patched\n");
      }
    }
  }

  /** The agent's refusal of a snapshot named like nightshift's but without its marker (agent/maintenance/snapshot-ownership.ts). */
  private notOursError(vm: string, name: string, what: string): Outcome {
    return { ok: false, error: { code: "NS_ERR_STEP_SNAPSHOT_NOT_OURS", message: `VM ${vm}: snapshot ${name} is named like nightshift's, ` +
      `but its description does not begin with "[nightshift-agent snapshot v1]", which this agent writes into every snapshot it takes: ` +
      `it was taken by someone else (or by an older agent), so this agent does not ${what}; use virsh for it` } };
  }
}
