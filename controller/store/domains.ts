/** The latest known domains and disks of every host, replaced by each inventory and nudged by events. */
import type { Db } from "./db.js";
import type { Domain, DomainDisk, DomainMaintenance } from "../../shared/protocol/messages.js";
import type { VmRecord } from "../../shared/api.js";


interface DomainJoinRow {
  host: string;
  host_id: number;
  uuid: string;
  name: string;
  state: string;
  state_reason: string;
  autostart: number;
  persistent: number;
  vcpus: number;
  memory_kib: number;
  max_memory_kib: number;
  disks_truncated: number;
  updated_at: number;
}

interface DiskRow {
  host_id: number;
  domain_uuid: string;
  target: string;
  bus: string | null;
  device: string;
  type: string;
  source: string | null;
  driver_type: string | null;
  readonly: number;
  shareable: number;
}

/** Lifecycle event -> the state libvirt will report after it. */
/** A VM whose <metadata> puts it in a maintenance group, on a host that is not revoked. */
export interface DomainMaintenanceRow {
  host: string;
  name: string;
  maintenance: DomainMaintenance;
}

const STATE_AFTER_EVENT: Record<string, string> = {
  started: "running",
  resumed: "running",
  suspended: "paused",
  stopped: "shutoff",
  crashed: "crashed",
  pmsuspended: "pmsuspended",
};

export class DomainStore {
  private readonly upsert;
  private readonly deleteDisks;
  private readonly insertDisk;
  private readonly existingUuids;
  private readonly deleteDomain;
  private readonly setState;
  private readonly listStmt;
  private readonly listByHostStmt;
  private readonly disksStmt;
  private readonly disksByHostStmt;
  private readonly stateRowsStmt;
  private readonly countByStateStmt;

  constructor(private readonly db: Db) {
    this.upsert = db.prepare(`INSERT INTO domains (host_id, uuid, name, state, state_reason, autostart, persistent, vcpus,
        memory_kib, max_memory_kib, maintenance, disks_truncated, updated_at)
      VALUES (@hostId, @uuid, @name, @state, @stateReason, @autostart, @persistent, @vcpus, @memoryKiB, @maxMemoryKiB, @maintenance,
        @disksTruncated, @now)
      ON CONFLICT (host_id, uuid) DO UPDATE SET name = excluded.name, state = excluded.state,
        state_reason = excluded.state_reason, autostart = excluded.autostart, persistent = excluded.persistent,
        vcpus = excluded.vcpus, memory_kib = excluded.memory_kib, max_memory_kib = excluded.max_memory_kib,
        maintenance = excluded.maintenance, disks_truncated = excluded.disks_truncated, updated_at = excluded.updated_at`);
    this.deleteDisks = db.prepare("DELETE FROM disks WHERE host_id = ? AND domain_uuid = ?");
    this.insertDisk = db.prepare(`INSERT INTO disks (host_id, domain_uuid, target, bus, device, type, source, driver_type,
      readonly, shareable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.existingUuids = db.prepare("SELECT uuid FROM domains WHERE host_id = ?").pluck();
    this.deleteDomain = db.prepare("DELETE FROM domains WHERE host_id = ? AND uuid = ?");
    this.setState = db.prepare("UPDATE domains SET state = ?, state_reason = ?, updated_at = ? WHERE host_id = ? AND uuid = ?");
    const select = `SELECT h.name AS host, d.host_id, d.uuid, d.name, d.state, d.state_reason, d.autostart, d.persistent,
      d.vcpus, d.memory_kib, d.max_memory_kib, d.disks_truncated, d.updated_at FROM domains d JOIN hosts h ON h.id = d.host_id`;
    this.listStmt = db.prepare(`${select} ORDER BY h.name, d.name`);
    this.listByHostStmt = db.prepare(`${select} WHERE h.name = ? ORDER BY d.name`);
    this.countByStateStmt = db.prepare("SELECT state, count(*) AS n FROM domains GROUP BY state");
    this.stateRowsStmt = db.prepare("SELECT h.name AS host, d.name, d.state, d.autostart FROM domains d JOIN hosts h ON h.id = d.host_id");
    this.disksStmt = db.prepare("SELECT * FROM disks ORDER BY host_id, domain_uuid, target");
    this.disksByHostStmt = db.prepare("SELECT k.* FROM disks k JOIN hosts h ON h.id = k.host_id WHERE h.name = ? ORDER BY k.domain_uuid, k.target");
  }

  /**
   * Makes the host's domains exactly the inventory's, except those in `keep`:
   * VMs the inventory had but the controller refused, whose last stored state
   * stays rather than vanish. Call inside a transaction.
   */
  replaceInventory(hostId: number, domains: readonly Domain[], now: number, keep: ReadonlySet<string> = new Set()): void {
    const seen = new Set<string>(keep);
    for (const d of domains) {
      seen.add(d.uuid);
      this.upsert.run({ hostId, uuid: d.uuid, name: d.name, state: d.state, stateReason: d.stateReason,
        autostart: d.autostart ? 1 : 0, persistent: d.persistent ? 1 : 0, vcpus: d.vcpus, memoryKiB: d.memoryKiB,
        maxMemoryKiB: d.maxMemoryKiB, maintenance: d.maintenance ? JSON.stringify(d.maintenance) : null,
        disksTruncated: d.disksTruncated ?? 0, now });
      this.deleteDisks.run(hostId, d.uuid);
      for (const k of d.disks) {
        this.insertDisk.run(hostId, d.uuid, k.target, k.bus, k.device, k.type, k.source, k.driverType, k.readonly ? 1 : 0, k.shareable ? 1 : 0);
      }
    }
    for (const uuid of this.existingUuids.all(hostId) as string[]) {
      if (!seen.has(uuid)) this.deleteDomain.run(hostId, uuid);
    }
  }

  /** Applies a lifecycle event so listings are current before the next inventory. */
  applyLifecycle(hostId: number, uuid: string, event: string, detail: string, now: number): void {
    if (event === "undefined") {
      this.deleteDomain.run(hostId, uuid);
      return;
    }
    const state = STATE_AFTER_EVENT[event];
    if (state) this.setState.run(state, detail, now, hostId, uuid);
  }

  list(host?: string): VmRecord[] {
    const rows = (host ? this.listByHostStmt.all(host) : this.listStmt.all()) as DomainJoinRow[];
    const disks = new Map<string, DomainDisk[]>();
    for (const k of (host ? this.disksByHostStmt.all(host) : this.disksStmt.all()) as DiskRow[]) {
      const key = `${k.host_id}/${k.domain_uuid}`;
      const list = disks.get(key) ?? [];
      list.push({ target: k.target, bus: k.bus, device: k.device, type: k.type, source: k.source, driverType: k.driver_type,
        readonly: k.readonly === 1, shareable: k.shareable === 1 });
      disks.set(key, list);
    }
    return rows.map((r) => ({
      host: r.host, name: r.name, uuid: r.uuid, state: r.state, stateReason: r.state_reason, autostart: r.autostart === 1,
      persistent: r.persistent === 1, vcpus: r.vcpus, memoryKiB: r.memory_kib, maxMemoryKiB: r.max_memory_kib,
      disks: disks.get(`${r.host_id}/${r.uuid}`) ?? [], ...(r.disks_truncated > 0 ? { disksTruncated: r.disks_truncated } : {}),
      updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }

  /** Just what metrics need, without disks: cheap enough for every scrape. */
  stateRows(): { host: string; name: string; state: string; autostart: number }[] {
    return this.stateRowsStmt.all() as { host: string; name: string; state: string; autostart: number }[];
  }

  /** VM counts by state, counted by SQLite rather than row by row here. */
  countByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.countByStateStmt.all() as { state: string; n: number }[]) counts[r.state] = r.n;
    return counts;
  }

  /** Every VM of this name, on whichever hosts have one (maintenance targets). */
  findByName(name: string): { host_id: number; host: string; name: string; state: string }[] {
    return this.db.prepare(`SELECT d.host_id, h.name AS host, d.name, d.state FROM domains d JOIN hosts h ON h.id = d.host_id
      WHERE d.name = ? AND h.status != 'revoked' ORDER BY h.name`).all(name) as { host_id: number; host: string; name: string; state: string }[];
  }

  /** Every VM with a maintenance membership from its metadata (as of its host's last inventory), by host and name. */
  maintenanceRows(): DomainMaintenanceRow[] {
    const rows = this.db.prepare(`SELECT h.name AS host, d.name, d.maintenance FROM domains d JOIN hosts h ON h.id = d.host_id
      WHERE d.maintenance IS NOT NULL AND h.status != 'revoked' ORDER BY h.name, d.name`).all() as { host: string; name: string; maintenance: string }[];
    return rows.map((r) => ({ host: r.host, name: r.name, maintenance: JSON.parse(r.maintenance) as DomainMaintenance }));
  }

  countByHost(): Map<number, number> {
    const rows = this.db.prepare("SELECT host_id, count(*) AS n FROM domains GROUP BY host_id").all() as { host_id: number; n: number }[];
    return new Map(rows.map((r) => [r.host_id, r.n]));
  }
}
