/**
 * Liveness: persists last-seen times and marks a host `missing` once its
 * agent has been silent for `liveness.missingAfter`. The history records when it
 * went missing; the session records when it came back (see agent-session.ts).
 */
import type { Store } from "./store/index.js";
import type { AgentHub } from "./hub/agent-hub.js";
import type { Logger } from "../shared/logging.js";
import { recordHostEvent } from "./hub/host-events.js";

export class LivenessMonitor {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly hub: AgentHub,
    private readonly log: Logger,
    private readonly missingAfterMs: number,
    private readonly checkIntervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.persistLastSeen();
  }

  /** One pass; public so tests and shutdown can run it directly. */
  check(now = Date.now()): void {
    this.persistLastSeen();
    for (const host of this.store.hosts.list()) {
      if (host.status !== "up" || this.hub.isConnected(host.id)) continue;
      const seen = Math.max(host.last_seen_at ?? 0, this.hub.lastSeen(host.id) ?? 0);
      if (now - seen < this.missingAfterMs) continue;
      this.store.transaction(() => {
        this.store.hosts.setStatus(host.id, "missing");
        recordHostEvent(this.store, host.id, "missing", now, { lastSeenAt: new Date(seen).toISOString() });
      });
      this.log.warn({ host: host.name, lastSeenAt: new Date(seen).toISOString() }, "host is missing: its agent has been silent too long");
    }
  }

  private persistLastSeen(): void {
    this.store.transaction(() => {
      for (const [hostId, at] of this.hub.lastSeenEntries()) this.store.hosts.touch(hostId, at);
    });
  }
}
