/**
 * A generated fleet for planning tests and the planning benchmark: hypervisors
 * with VMs, two routers, storage servers, our own infrastructure VMs, and
 * customer groups in several time zones with different windows, blackouts,
 * notice periods, test and production VMs, tested and untested ones, HA pairs
 * on different hypervisors. Deterministic for a seed.
 *
 * Group "ops" (Europe/Berlin, nightly 22:00-06:00) holds the hosts and the
 * infrastructure VMs. Customer groups take one of WINDOW_STYLES; only styles
 * open on most nights carry test VMs, as the one/few/many example puts all
 * tested test VMs into a two-day wave.
 */
import { MaintenancePreferenceSchema, PlanMachineSchema, type MaintenancePreference, type MaintenancePreferenceInput,
  type PlanMachine, type PlanMachineInput } from "../../shared/windows.js";

export interface FleetOptions {
  vms: number;
  /** Default vms / 5 (at least 8). */
  hosts?: number;
  /** Groups including "ops"; default 12 for 200 VMs, about one per 17 VMs for more. */
  groups?: number;
  seed?: number;
  /** The Monday (YYYY-MM-DD) of the week plans start in; blackouts fall in the week after. Default 2025-03-24. */
  weekStart?: string;
}

export interface Fleet {
  machines: PlanMachine[];
  preferences: MaintenancePreference[];
}

export const FLEET_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC",
  "Europe/London", "America/Los_Angeles", "Asia/Tokyo"] as const;

interface WindowStyle {
  windows: MaintenancePreferenceInput["windows"];
  /** Open on most nights: may carry test VMs. */
  testFriendly: boolean;
  notice: string;
  /** Offsets (days from the week-2 Monday) of blackout dates, for every other group of this style. */
  blackoutDays: number[];
}

export const WINDOW_STYLES: WindowStyle[] = [
  { windows: [{ days: ["tue", "thu"], start: "02:00", end: "05:00" }], testFriendly: false, notice: "48h", blackoutDays: [] },
  { windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "01:00", end: "04:00" }], testFriendly: true, notice: "24h", blackoutDays: [4, 5] },
  { windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "22:00", end: "02:00" }], testFriendly: true, notice: "0s", blackoutDays: [3] },
  { windows: [{ days: ["sat", "sun"], start: "22:00", end: "06:00" }], testFriendly: false, notice: "48h", blackoutDays: [] },
  { windows: [{ days: ["mon", "wed", "fri"], start: "03:00", end: "06:00" }], testFriendly: false, notice: "24h", blackoutDays: [] },
  { windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "23:00", end: "05:00" }], testFriendly: true, notice: "48h", blackoutDays: [6] },
];

/** mulberry32: small, fast, deterministic. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

export function generateFleet(options: FleetOptions): Fleet {
  const rnd = random(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const minutes = (lo: number, hi: number) => lo + 5 * Math.floor(rnd() * ((hi - lo) / 5 + 1));
  const weekStart = options.weekStart ?? "2025-03-24";
  const hostCount = options.hosts ?? Math.max(8, Math.round(options.vms / 5));
  const groupCount = options.groups ?? Math.max(12, Math.round(options.vms / 17));
  const machines: PlanMachineInput[] = [];

  const preferences: MaintenancePreferenceInput[] = [{
    group: "ops", timezone: "Europe/Berlin", notice: "0s",
    windows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "22:00", end: "06:00" }],
  }];
  const customers: { group: string; style: WindowStyle; weight: number }[] = [];
  for (let g = 1; g < groupCount; g++) {
    const style = WINDOW_STYLES[(g - 1) % WINDOW_STYLES.length]!;
    const group = `cust-${String(g).padStart(4, "0")}`;
    const blackouts = g % 2 === 0 ? style.blackoutDays.map((d) => addDays(weekStart, 7 + d)) : [];
    preferences.push({ group, timezone: FLEET_ZONES[(g * 5) % FLEET_ZONES.length]!, windows: style.windows, notice: style.notice, blackouts });
    customers.push({ group, style, weight: 1 + Math.floor(rnd() * 5) });
  }

  // Hosts: two routers (an HA pair), storage servers, the rest hypervisors.
  const storageCount = Math.max(2, Math.round(hostCount * 0.15));
  const hypervisors: string[] = [];
  for (let h = 0; h < hostCount; h++) {
    const id = h < 2 ? `router-${h + 1}` : h < 2 + storageCount ? `storage-${h - 1}` : `hv-${String(h - 1 - storageCount).padStart(4, "0")}`;
    const role = h < 2 ? "router" : h < 2 + storageCount ? "storage" : "hypervisor";
    if (role === "hypervisor") hypervisors.push(id);
    machines.push({
      id, kind: "host", name: id, host: id, group: "ops", roles: [role], tested: true,
      haGroups: role === "router" ? ["edge"] : [],
      estimatedMinutes: role === "router" ? 30 : role === "storage" ? 60 : minutes(45, 90),
    });
  }

  // VMs: our infrastructure (automation, monitoring; an HA pair of monitors), then customers by weight.
  let vmNo = 0;
  const vm = (group: string, roles: string[], tested: boolean, host: string, haGroups: string[] = []) => {
    const id = `vm-${String(vmNo++).padStart(5, "0")}`;
    machines.push({ id, kind: "vm", name: `${group}-${id}`, host, group, roles, tested, haGroups, estimatedMinutes: minutes(15, 60) });
  };
  const infra = Math.max(4, Math.round(options.vms * 0.03));
  for (let i = 0; i < infra; i++) {
    vm("ops", ["infrastructure", i % 2 === 0 ? "automation" : "monitoring"], true,
      hypervisors[i % hypervisors.length]!, i < 2 ? ["monitoring"] : []);
  }
  const totalWeight = customers.reduce((sum, c) => sum + c.weight, 0);
  let left = options.vms - infra;
  for (const [i, c] of customers.entries()) {
    let n = i === customers.length - 1 ? left : Math.min(left, Math.round(((options.vms - infra) * c.weight) / totalWeight));
    left -= n;
    let pair = 0;
    while (n > 0) {
      const isTest = c.style.testFriendly && rnd() < 0.25;
      const roles = isTest ? ["test"] : ["production"];
      if (!isTest && n >= 2 && rnd() < 0.25) {
        // An HA pair on two different hypervisors.
        const first = Math.floor(rnd() * hypervisors.length);
        const ha = [`${c.group}-ha-${pair++}`];
        vm(c.group, roles, rnd() < 0.5, hypervisors[first]!, ha);
        vm(c.group, roles, rnd() < 0.5, hypervisors[(first + 1) % hypervisors.length]!, ha);
        n -= 2;
      } else {
        vm(c.group, roles, rnd() < (isTest ? 0.5 : 0.4), pick(hypervisors));
        n -= 1;
      }
    }
  }
  return {
    machines: machines.map((m) => PlanMachineSchema.parse(m)),
    preferences: preferences.map((p) => MaintenancePreferenceSchema.parse(p)),
  };
}
