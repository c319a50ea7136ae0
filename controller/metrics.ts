/**
 * Prometheus metrics of the controller. Fleet state (hosts, VMs) is read from
 * the store at scrape time, so /metrics never disagrees with the API; counters
 * are incremented where things happen.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Store } from "./store/index.js";

export interface LiveSource {
  connectedAgents(): number;
  lastSeen(hostId: number): number | undefined;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly lifecycleEvents: Counter<"event" | "detail">;
  readonly messageErrors: Counter<"kind">;
  readonly itemsRefused: Counter<"kind">;
  readonly eventsStored: Counter;
  readonly agentConnections: Counter<"result">;
  readonly webhookFailures: Counter;
  readonly snapshotsDeleted: Counter<"result">;
  readonly resolvedFindingsDeleted: Counter<"reason">;

  constructor(store: Store, live: LiveSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "nightshift_controller_" });
    // prom-client names these gauges *_total, which promtool (rightly) rejects
    // for non-counters; drop them rather than publish names that fail lint.
    for (const gauge of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
      this.registry.removeSingleMetric(`nightshift_controller_${gauge}`);
    }

    new Gauge({
      name: "nightshift_vm_in_maintenance", help: "1 while a maintenance run works on the VM (alert rules hold VM-down alerts for it).",
      labelNames: ["host", "vm", "run"], registers,
      collect() {
        this.reset();
        for (const r of store.runs.inMaintenance()) this.set({ host: r.host, vm: r.vm, run: r.run_id }, 1);
      },
    });
    new Gauge({
      name: "nightshift_vm_needs_attention", help: "1 for a VM a maintenance run left needing attention, until a later run on it ends well or an operator resolves it.",
      labelNames: ["host", "vm", "run"], registers,
      collect() {
        this.reset();
        for (const r of store.runs.needsAttention()) this.set({ host: r.host, vm: r.vm, run: r.run_id }, 1);
      },
    });
    new Gauge({
      name: "nightshift_runs_active", help: "Maintenance runs not finished yet.", registers,
      collect() {
        this.set(store.runs.activeRunCount());
      },
    });
    new Gauge({
      name: "nightshift_plan_slots", help: "Slots of the current plan by wave and state (scheduled, running, done, failed, skipped, cancelled).",
      labelNames: ["wave", "state"], registers,
      collect() {
        this.reset();
        const plan = store.plans.current();
        if (!plan) return;
        for (const c of store.plans.countsByWaveState(plan.id)) this.set({ wave: c.wave, state: c.state }, c.n);
      },
    });
    new Gauge({
      name: "nightshift_plan_next_slot_timestamp_seconds", help: "Start of the group's next slot in the current plan that has not started (Unix time).",
      labelNames: ["group"], registers,
      collect() {
        this.reset();
        const plan = store.plans.current();
        if (!plan) return;
        for (const r of store.plans.nextPerGroup(plan.id)) this.set({ group: r.grp }, r.start_at / 1000);
      },
    });
    new Gauge({
      name: "nightshift_plan_unplaced", help: "Machines in scope the current plan has no slot for, by reason.",
      labelNames: ["reason"], registers,
      collect() {
        this.reset();
        const plan = store.plans.current();
        if (!plan) return;
        for (const r of store.plans.unplacedByReason(plan.id)) this.set({ reason: r.reason }, r.n);
      },
    });
    new Gauge({
      name: "nightshift_plan_paused", help: "1 while the current plan is paused (a VM needs attention, a wave's failure budget is spent, or the operator).",
      registers,
      collect() {
        this.set(store.plans.current()?.state === "paused" ? 1 : 0);
      },
    });
    this.webhookFailures = new Counter({
      name: "nightshift_webhook_failures_total", help: "Notifications (runs, plans: webhooks and mail) that could not be delivered after 3 attempts.", registers,
    });
    this.snapshotsDeleted = new Counter({
      name: "nightshift_snapshots_deleted_total", help: "Expired snapshots the retention job deleted (result=deleted|gone|failed).",
      labelNames: ["result"], registers,
    });
    this.resolvedFindingsDeleted = new Counter({
      name: "nightshift_resolved_findings_deleted_total",
      help: "Resolved findings the retention job deleted, by reason (age: resolved longer ago than retention.resolvedFindings; per-host-limit: beyond retention.resolvedFindingsPerHost).",
      labelNames: ["reason"], registers,
    });
    for (const reason of ["age", "per-host-limit"]) this.resolvedFindingsDeleted.inc({ reason }, 0);
    new Gauge({
      name: "nightshift_host_up", help: "1 when the host's agent was heard from recently (status up), else 0.",
      labelNames: ["host", "status"], registers,
      collect() {
        this.reset();
        for (const h of store.hosts.list()) this.set({ host: h.name, status: h.status }, h.status === "up" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nightshift_host_last_seen_timestamp_seconds", help: "When the host's agent was last heard from (Unix time).",
      labelNames: ["host"], registers,
      collect() {
        this.reset();
        for (const h of store.hosts.list()) {
          const seen = Math.max(h.last_seen_at ?? 0, live.lastSeen(h.id) ?? 0);
          if (seen > 0) this.set({ host: h.name }, seen / 1000);
        }
      },
    });
    new Gauge({
      name: "nightshift_vm_state", help: "1 for the VM's current libvirt state (running, shutoff, paused, ...).",
      labelNames: ["host", "vm", "state"], registers,
      collect() {
        this.reset();
        for (const d of store.domains.stateRows()) this.set({ host: d.host, vm: d.name, state: d.state }, 1);
      },
    });
    new Gauge({
      name: "nightshift_vm_autostart", help: "1 when libvirt starts the VM with the host, else 0.",
      labelNames: ["host", "vm"], registers,
      collect() {
        this.reset();
        for (const d of store.domains.stateRows()) this.set({ host: d.host, vm: d.name }, d.autostart);
      },
    });
    new Gauge({
      name: "nightshift_agent_sessions", help: "Agents connected to this controller now.", registers,
      collect() {
        this.set(live.connectedAgents());
      },
    });
    new Gauge({
      name: "nightshift_finding", help: "1 for every open finding of a host's probes or of the controller (code, severity, subject).",
      labelNames: ["host", "code", "severity", "subject"], registers,
      collect() {
        this.reset();
        for (const f of store.health.openFindings()) this.set({ host: f.host, code: f.code, severity: f.severity, subject: f.subject }, 1);
      },
    });
    new Gauge({
      name: "nightshift_mount_up", help: "1 when the mount answers, 0 when it is hung, missing or empty (see nightshift_mount_state).",
      labelNames: ["host", "mount_point", "fstype"], registers,
      collect() {
        this.reset();
        for (const m of store.health.mounts()) this.set({ host: m.host, mount_point: m.mount_point, fstype: m.fstype }, m.state === "up" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nightshift_mount_hung", help: "1 when the mount did not answer within the probe's timeout.",
      labelNames: ["host", "mount_point"], registers,
      collect() {
        this.reset();
        for (const m of store.health.mounts()) this.set({ host: m.host, mount_point: m.mount_point }, m.state === "hung" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nightshift_mount_state", help: "1 for the mount's current state: up, hung, missing, empty.",
      labelNames: ["host", "mount_point", "state"], registers,
      collect() {
        this.reset();
        for (const m of store.health.mounts()) this.set({ host: m.host, mount_point: m.mount_point, state: m.state }, 1);
      },
    });
    new Gauge({
      name: "nightshift_systemd_state", help: "1 for the host's `systemctl is-system-running` state (absent without systemd).",
      labelNames: ["host", "state"], registers,
      collect() {
        this.reset();
        for (const h of store.health.hostHealth()) if (h.systemd_state) this.set({ host: h.host, state: h.systemd_state }, 1);
      },
    });
    new Gauge({
      name: "nightshift_previous_boot_emergency", help: "1 when the host's previous boot entered emergency or rescue mode (absent when unknown).",
      labelNames: ["host"], registers,
      collect() {
        this.reset();
        for (const h of store.health.hostHealth()) if (h.previous_boot_emergency !== null) this.set({ host: h.host }, h.previous_boot_emergency);
      },
    });
    new Gauge({
      name: "nightshift_probe_success", help: "1 when the probe's last run succeeded or had nothing to look at; 0 when it failed or timed out.",
      labelNames: ["host", "probe"], registers,
      collect() {
        this.reset();
        for (const p of store.health.probeRuns()) this.set({ host: p.host, probe: p.probe }, p.status === "ok" || p.status === "not-applicable" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nightshift_probe_duration_seconds", help: "How long the probe's last run took on the host.",
      labelNames: ["host", "probe"], registers,
      collect() {
        this.reset();
        for (const p of store.health.probeRuns()) this.set({ host: p.host, probe: p.probe }, p.duration_ms / 1000);
      },
    });
    this.lifecycleEvents = new Counter({
      name: "nightshift_lifecycle_events_total", help: "VM lifecycle events stored, by libvirt event type and detail (reason).",
      labelNames: ["event", "detail"], registers,
    });
    this.messageErrors = new Counter({
      name: "nightshift_agent_message_errors_total",
      help: "Agent messages refused, by kind (malformed-json, unsupported-version, unknown-type, schema, order, oversized, binary, host-mismatch, store).",
      labelNames: ["kind"], registers,
    });
    this.itemsRefused = new Counter({
      name: "nightshift_agent_items_refused_total",
      help: "Items refused on their own while the rest of their message was taken, by kind (domain, event, finding, mount, probe, systemd).",
      labelNames: ["kind"], registers,
    });
    this.eventsStored = new Counter({
      name: "nightshift_events_stored_total", help: "Events appended to the history (redeliveries not counted).", registers,
    });
    this.agentConnections = new Counter({
      name: "nightshift_agent_connections_total",
      help: "Agent connection attempts, by result (accepted, unauthorized, duplicate, bad-handshake).",
      labelNames: ["result"], registers,
    });
  }
}
