/**
 * Prometheus metrics of the controller. Fleet state (hosts, VMs) is read from
 * the store at scrape time, so /metrics never disagrees with the API; counters
 * are incremented where things happen.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Store } from "./store/index.js";
import { FACT_SPECS } from "../shared/facts/index.js";

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
  readonly connectionsRefused: Counter<"reason">;
  readonly resolvedFindingsDeleted: Counter<"reason">;
  readonly netconsoleLines: Counter<"result">;
  private openConnections: () => number = () => 0;

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
    this.netconsoleLines = new Counter({
      name: "nightshift_netconsole_lines_total",
      help: "Console lines received on netconsole.listen: accepted (from an enrolled host's address) or unknown-source (counted and dropped).",
      labelNames: ["result"], registers,
    });
    for (const result of ["accepted", "unknown-source"]) this.netconsoleLines.inc({ result }, 0);
    new Gauge({
      name: "nightshift_host_emergency",
      help: "1 while the host's console (netconsole) says it is in emergency or rescue mode (target), until its agent connects again.",
      labelNames: ["host", "target"], registers,
      collect() {
        this.reset();
        for (const h of store.hosts.list()) {
          if (!h.emergency) continue;
          const target = (JSON.parse(h.emergency) as { target?: string }).target ?? "emergency.target";
          this.set({ host: h.name, target }, 1);
        }
      },
    });
    new Gauge({
      name: "nightshift_host_up", help: "1 when the host's agent was heard from recently (status up), else 0.",
      labelNames: ["host", "status"], registers,
      collect() {
        this.reset();
        for (const h of store.hosts.list()) this.set({ host: h.name, status: h.status }, h.status === "up" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nightshift_host_libvirt_up",
      help: "1 while the host's agent is connected to libvirt, 0 while it reports libvirt unreachable (absent until it says; as last said while the host is missing).",
      labelNames: ["host"], registers,
      collect() {
        this.reset();
        for (const h of store.hosts.list()) {
          if (h.status !== "revoked" && h.libvirt_state !== null) this.set({ host: h.name }, h.libvirt_state === "connected" ? 1 : 0);
        }
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
    // Each probe's fact exports its own gauges (shared/facts/), from every host's stored fact.
    for (const spec of FACT_SPECS) {
      for (const gauge of spec.gauges) {
        new Gauge({
          name: gauge.name, help: gauge.help, labelNames: ["host", ...gauge.labelNames], registers,
          collect() {
            this.reset();
            for (const { host, fact } of store.health.facts.ofProbe(spec.probe)) {
              for (const sample of gauge.samples(fact)) this.set({ host, ...sample.labels }, sample.value);
            }
          },
        });
      }
    }
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
      help: "Items refused on their own while the rest of their message was taken, by kind (domain, event, finding, probe; for facts the fact's kind, e.g. mount, or fact for one no probe reports).",
      labelNames: ["kind"], registers,
    });
    this.eventsStored = new Counter({
      name: "nightshift_events_stored_total", help: "Events appended to the history (redeliveries not counted).", registers,
    });
    this.agentConnections = new Counter({
      name: "nightshift_agent_connections_total",
      help: "Agent connection attempts, by result (accepted, unauthorized, duplicate, rate-limited, bad-handshake).",
      labelNames: ["result"], registers,
    });
    this.connectionsRefused = new Counter({
      name: "nightshift_http_connections_refused_total",
      help: "Client connections refused or closed by a limit, by reason (client-limit, connection-limit, tls-handshake-limit, " +
        "tls-handshake-timeout, pipelining).",
      labelNames: ["reason"], registers,
    });
    const open = () => this.openConnections();
    new Gauge({
      name: "nightshift_http_connections", help: "Client connections open now (HTTP, agents, TLS handshakes), against http.maxConnections.",
      registers,
      collect() {
        this.set(open());
      },
    });
  }

  /** The listener's count of open connections, read at scrape time. */
  watchConnections(count: () => number): void {
    this.openConnections = count;
  }
}
