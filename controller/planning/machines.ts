/**
 * Machine memberships and the inventory: which machines are in scope for
 * planning, and what the planner sees of each.
 *
 * A membership's id is stable: HOST/VM for a VM (the host it was on when it
 * was registered) and the host's name for a host. When planning, a VM's host
 * comes from the inventory: the registered host if the VM is still there,
 * else the one host that has a VM of that name (it migrated). A VM that is
 * gone, or whose name is now on several hosts but not the registered one, and
 * a host that is no longer enrolled, stay in scope but cannot be planned: they
 * are reported as `not-in-inventory`.
 */
import type { MachineBody, MachineRecord } from "../../shared/plans.js";
import type { PlanMachine } from "../../shared/windows.js";
import type { Store } from "../store/index.js";
import type { MembershipRow, NewMembership } from "../store/plans.js";
import { PlanError } from "./plan-errors.js";

export const NOT_IN_INVENTORY = "not-in-inventory";

export type Resolution = { machine: PlanMachine; problem: null } | { machine: null; problem: string };

export interface ResolvedMembership {
  row: MembershipRow;
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

/** Every membership (the machines in scope), resolved against the inventory. */
export function resolveMemberships(store: Store): ResolvedMembership[] {
  return store.plans.memberships().map((row) => ({ row, resolution: resolveMembership(store, row) }));
}

export function machineRecord(store: Store, row: MembershipRow): MachineRecord {
  const resolved = resolveMembership(store, row);
  return {
    id: row.id, kind: row.kind, name: row.name, host: resolved.machine?.host ?? row.host, group: row.grp,
    roles: JSON.parse(row.roles) as string[], tested: row.tested === 1, haGroups: JSON.parse(row.ha_groups) as string[],
    estimatedMinutes: row.estimated_minutes,
  };
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
    if (!isLiveHost(store, name)) throw new PlanError(404, "NS_ERR_NO_HOST", `no enrolled host named '${name}' (see nightshift hosts)`);
    membership = { id: name, kind: "host", name, host: name, ...fields };
  } else {
    const slash = name.indexOf("/");
    const hostName = slash >= 0 ? name.slice(0, slash) : null;
    const vm = slash >= 0 ? name.slice(slash + 1) : name;
    const hosts = vmHosts(store, vm).filter((h) => hostName === null || h === hostName);
    if (hosts.length === 0) {
      throw new PlanError(404, "NS_ERR_NO_VM", `no VM named '${vm}'${hostName ? ` on host ${hostName}` : ""} in the inventory (see nightshift vms)`);
    }
    if (hosts.length > 1) {
      throw new PlanError(409, "NS_ERR_VM_AMBIGUOUS", `'${vm}' exists on ${hosts.join(", ")}: name it as HOST/VM, e.g. ${hosts[0]}/${vm}`);
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

/** The membership DELETE /v1/machines/NAME means: an id (HOST/VM, host name) or a VM's name when only one VM has it. */
export function findMembership(store: Store, name: string, kind: "vm" | "host" | null): MembershipRow {
  const byId = store.plans.membership(name);
  if (byId && (kind === null || byId.kind === kind)) return byId;
  const named = store.plans.membershipsNamed(name).filter((m) => kind === null || m.kind === kind);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw new PlanError(409, "NS_ERR_MACHINE_AMBIGUOUS", `'${name}' names ${named.length} machines (${named.map((m) => m.id).join(", ")}): ` +
      `give the id (HOST/VM) or ?kind=vm|host`);
  }
  throw new PlanError(404, "NS_ERR_NO_MACHINE", `no machine '${name}' is registered for planning (see nightshift machines)`);
}
