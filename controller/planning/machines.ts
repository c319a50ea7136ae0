/**
 * Machine memberships and the inventory: which machines are in scope for
 * planning, and what the planner sees of each.
 *
 * A machine is in scope through one of three sources, the first that has it:
 * - "cli": a membership set with `nightshift machines set` (PUT /v1/machines),
 *   which always wins over the other two;
 * - "metadata": a VM whose domain <metadata> has a <maintenance> element
 *   (as of its host's last inventory);
 * - "agent-config": a hypervisor whose agent's config sets `maintenance.group`
 *   (as of its last hello).
 * Only "cli" memberships are stored here and can be deleted over the API; the
 * others change where they are set. Hosts that are revoked bring nothing.
 *
 * A membership's id is stable: HOST/VM for a VM (for "cli", the host it was on
 * when it was registered) and the host's name for a host. When planning, a
 * "cli" VM's host comes from the inventory: the registered host if the VM is
 * still there, else the one host that has a VM of that name (it migrated). A
 * VM that is gone, or whose name is now on several hosts but not the
 * registered one, and a host that is no longer enrolled, stay in scope but
 * cannot be planned: they are reported as `not-in-inventory`. A VM in scope
 * through "cli" (where it is now) is not in scope again through its metadata.
 */
import type { MachineBody, MachineRecord, MachineSource } from "../../shared/plans.js";
import type { PlanMachine } from "../../shared/windows.js";
import type { Store } from "../store/index.js";
import type { MembershipRow, NewMembership } from "../store/plans.js";
import { PlanError } from "./plan-errors.js";

export const NOT_IN_INVENTORY = "not-in-inventory";

/** The slot length of a machine whose membership does not say (as PUT /v1/machines defaults it). */
export const DEFAULT_ESTIMATED_MINUTES = 30;

export type Resolution = { machine: PlanMachine; problem: null } | { machine: null; problem: string };

export interface ResolvedMembership {
  /** As registered: for "cli" VMs, `host` is the host it was registered on. */
  membership: MachineRecord;
  resolution: Resolution;
}

function vmHosts(store: Store, name: string): string[] {
  return store.domains.findByName(name).map((d) => d.host);
}

function isLiveHost(store: Store, name: string): boolean {
  const host = store.hosts.findByName(name);
  return host !== undefined && host.status !== "revoked";
}

/** The planner's view of one membership, with the VM's host from the inventory now. */
export function resolveMembership(store: Store, row: MembershipRow): Resolution {
  let host = row.host;
  if (row.kind === "host") {
    if (!isLiveHost(store, row.name)) return { machine: null, problem: `host ${row.name} is not enrolled (any more)` };
  } else {
    const hosts = vmHosts(store, row.name);
    if (!hosts.includes(row.host)) {
      if (hosts.length === 0) return { machine: null, problem: `VM ${row.name} (registered on ${row.host}) is not in the inventory` };
      if (hosts.length > 1) {
        return { machine: null, problem: `VM ${row.name} left ${row.host} and is now on several hosts (${hosts.join(", ")}): register it again as HOST/VM` };
      }
      host = hosts[0]!;
    }
  }
  return {
    problem: null,
    machine: {
      id: row.id, kind: row.kind, name: row.name, host, group: row.grp, roles: JSON.parse(row.roles) as string[], tested: row.tested === 1,
      haGroups: JSON.parse(row.ha_groups) as string[], estimatedMinutes: row.estimated_minutes,
    },
  };
}

function cliMembership(row: MembershipRow): MachineRecord {
  return {
    id: row.id, kind: row.kind, name: row.name, host: row.host, group: row.grp, roles: JSON.parse(row.roles) as string[],
    tested: row.tested === 1, haGroups: JSON.parse(row.ha_groups) as string[], estimatedMinutes: row.estimated_minutes, source: "cli",
  };
}

/** A membership the inventory reported: the machine is where it says, so it always resolves. */
function reported(membership: MachineRecord): ResolvedMembership {
  const { source: _source, ...machine } = membership;
  return { membership, resolution: { problem: null, machine } };
}

const byScopeOrder = (a: MachineRecord, b: MachineRecord): number =>
  compare(a.group, b.group) || compare(b.kind, a.kind) || compare(a.name, b.name) || compare(a.id, b.id);

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every machine in scope, resolved against the inventory: the "cli"
 * memberships, then VMs whose metadata and hosts whose agent config put them
 * in a group and that the CLI does not already place; by group, VMs before
 * hosts, name and id.
 */
export function resolveMemberships(store: Store): ResolvedMembership[] {
  const cli = store.plans.memberships().map((row) => ({ membership: cliMembership(row), resolution: resolveMembership(store, row) }));
  const taken = new Set<string>();
  for (const { membership, resolution } of cli) {
    taken.add(membership.id);
    // A VM registered on a host it left is placed where it is now.
    if (membership.kind === "vm" && resolution.machine) taken.add(`${resolution.machine.host}/${membership.name}`);
  }
  const fromMetadata = store.domains.maintenanceRows().filter((d) => !taken.has(`${d.host}/${d.name}`)).map(({ host, name, maintenance: m }) =>
    reported({
      id: `${host}/${name}`, kind: "vm", name, host, group: m.group, roles: m.roles, tested: m.tested, haGroups: m.haGroups ?? [],
      estimatedMinutes: m.estimatedMinutes ?? DEFAULT_ESTIMATED_MINUTES, source: "metadata",
    }));
  const fromConfig = store.hosts.maintenanceRows().filter((h) => !taken.has(h.name)).map(({ name, maintenance: m }) =>
    reported({
      id: name, kind: "host", name, host: name, group: m.group, roles: m.roles, tested: false, haGroups: [],
      estimatedMinutes: m.estimatedMinutes ?? DEFAULT_ESTIMATED_MINUTES, source: "agent-config",
    }));
  return [...cli, ...fromMetadata, ...fromConfig].sort((a, b) => byScopeOrder(a.membership, b.membership));
}

/** A resolved membership as GET /v1/machines shows it: with the host the VM is on now. */
function record({ membership, resolution }: ResolvedMembership): MachineRecord {
  return { ...membership, host: resolution.machine?.host ?? membership.host };
}

/** GET /v1/machines: every machine in scope, with where its membership comes from. */
export function machineRecords(store: Store): MachineRecord[] {
  return resolveMemberships(store).map(record);
}

/** Machines in scope per group (the windows' `machines`). */
export function membersPerGroup(store: Store): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { membership } of resolveMemberships(store)) counts.set(membership.group, (counts.get(membership.group) ?? 0) + 1);
  return counts;
}

/** A "cli" membership as GET /v1/machines shows it. */
export function machineRecord(store: Store, row: MembershipRow): MachineRecord {
  return record({ membership: cliMembership(row), resolution: resolveMembership(store, row) });
}

/**
 * PUT /v1/machines/NAME: the membership for a VM (NAME or HOST/VM, resolved in
 * the inventory now) or an enrolled host. Registering a VM again after it
 * migrated replaces its old membership.
 */
export function registerMachine(store: Store, name: string, body: Required<MachineBody>, now: number): MachineRecord {
  let membership: NewMembership;
  const fields = { group: body.group, roles: body.roles, tested: body.tested, haGroups: body.haGroups, estimatedMinutes: body.estimatedMinutes };
  if (body.kind === "host") {
    if (!isLiveHost(store, name)) throw new PlanError("NS_ERR_NO_HOST", `no enrolled host named '${name}' (see nightshift hosts)`);
    membership = { id: name, kind: "host", name, host: name, ...fields };
  } else {
    const slash = name.indexOf("/");
    const hostName = slash >= 0 ? name.slice(0, slash) : null;
    const vm = slash >= 0 ? name.slice(slash + 1) : name;
    const hosts = vmHosts(store, vm).filter((h) => hostName === null || h === hostName);
    if (hosts.length === 0) {
      throw new PlanError("NS_ERR_NO_VM", `no VM named '${vm}'${hostName ? ` on host ${hostName}` : ""} in the inventory (see nightshift vms)`);
    }
    if (hosts.length > 1) {
      throw new PlanError("NS_ERR_VM_AMBIGUOUS", `'${vm}' exists on ${hosts.join(", ")}: name it as HOST/VM, e.g. ${hosts[0]}/${vm}`);
    }
    membership = { id: `${hosts[0]}/${vm}`, kind: "vm", name: vm, host: hosts[0]!, ...fields };
  }
  store.transaction(() => {
    if (membership.kind === "vm") {
      // The same VM registered on a host it has left (it migrated): one membership per VM.
      const stale = store.plans.membershipsNamed(membership.name)
        .filter((m) => m.kind === "vm" && m.id !== membership.id && !vmHosts(store, m.name).includes(m.host));
      for (const m of stale) store.plans.deleteMembership(m.id);
    }
    store.plans.setMembership(membership, now);
  });
  return machineRecord(store, store.plans.membership(membership.id)!);
}

const NOT_DELETABLE: Record<Exclude<MachineSource, "cli">, (m: MachineRecord) => string> = {
  metadata: (m) => `${m.id} is in scope through the <maintenance> element of its domain <metadata>, not through nightshift machines set, ` +
    `so there is nothing to delete here: remove that element from the VM's XML (virsh edit ${m.name}, or virsh metadata); ` +
    "its host's next inventory takes it out of scope",
  "agent-config": (m) => `${m.id} is in scope through maintenance.group in its agent's config, not through nightshift machines set, ` +
    `so there is nothing to delete here: remove maintenance.group from the agent's config on ${m.name} and restart the agent`,
};

/**
 * The membership DELETE /v1/machines/NAME means: an id (HOST/VM, host name) or
 * a name only one machine in scope has. Only "cli" memberships can be deleted:
 * a machine in scope through its metadata or agent config is refused (409
 * NS_ERR_MACHINE_NOT_CLI) with where to change it.
 */
export function findMembership(store: Store, name: string, kind: "vm" | "host" | null): MembershipRow {
  const inScope = resolveMemberships(store).map((r) => r.membership).filter((m) => kind === null || m.kind === kind);
  const byId = inScope.find((m) => m.id === name);
  const named = byId ? [byId] : inScope.filter((m) => m.name === name);
  if (named.length > 1) {
    throw new PlanError("NS_ERR_MACHINE_AMBIGUOUS", `'${name}' names ${named.length} machines (${named.map((m) => m.id).join(", ")}): ` +
      `give the id (HOST/VM) or ?kind=vm|host`);
  }
  const found = named[0];
  if (!found) throw new PlanError("NS_ERR_NO_MACHINE", `no machine '${name}' is registered for planning (see nightshift machines)`);
  if (found.source !== "cli") throw new PlanError("NS_ERR_MACHINE_NOT_CLI", NOT_DELETABLE[found.source](found));
  return store.plans.membership(found.id)!;
}
