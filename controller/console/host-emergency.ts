/**
 * A host's emergency mode as its console reported it: the state on the host
 * (GET /v1/hosts `emergency`, `nightshift hosts` status `emergency`), a
 * critical finding NS_HOST_EMERGENCY naming the failed units and the fstab
 * lines behind them, and a host event `emergency` when it begins. Cleared, the
 * finding resolved and an event `emergency-ended` recorded, when the host's
 * agent says hello again (the host booted past it). Call inside a store transaction.
 */
import type { Store } from "../store/index.js";
import { recordHostEvent } from "../hub/host-events.js";
import type { EmergencyFstabLine, EmergencyLine } from "./emergency-line.js";

export const HOST_EMERGENCY = "NS_HOST_EMERGENCY";
const MAX_FSTAB_LINES = 64;

export interface HostEmergency {
  since: number;
  target: string;
  boot: string | null;
  failedUnits: string[];
  fstab: { unit: string; line: string }[];
}

export function readEmergency(json: string | null): HostEmergency | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as HostEmergency;
  } catch {
    return null;
  }
}

function upsertFinding(store: Store, hostId: number, hostName: string, e: HostEmergency, now: number): void {
  const units = e.failedUnits.length > 0 ? e.failedUnits.join(", ") : "no unit named";
  const lines = e.fstab.map((f) => `${f.unit}: ${f.line}`).join("; ");
  store.health.upsertFinding(hostId, {
    code: HOST_EMERGENCY, severity: "critical", subject: e.target, probe: "controller",
    message: `${hostName} is in ${e.target.replace(".target", "")} mode since ${new Date(e.since).toISOString()}`
      + `${e.boot ? ` (boot ${e.boot})` : ""}, said its console: failed ${units}${lines ? `; fstab: ${lines}` : ""}; `
      + "its agent does not run, nor do its VMs that start at boot",
    remedy: `on ${hostName}'s console (or its BMC): fix what failed (for a mount, its fstab line: the declared type, the device, `
      + "or add nofail), then reboot; `journalctl -b` in the emergency shell has the reason; nightshift findings --host "
      + `${hostName} has what the fstab probe found before the reboot`,
  }, "controller", now);
}

/** The console's emergency line: the host enters (or is still in) emergency mode. Returns true when it just began. */
export function applyEmergencyLine(store: Store, hostId: number, hostName: string, line: EmergencyLine, now: number): boolean {
  const host = store.hosts.findById(hostId);
  const current = readEmergency(host?.emergency ?? null);
  // The same boot's report again (it repeats while the host stays there): keep when it began and the fstab lines.
  const same = current !== null && current.target === line.target && current.boot === line.boot;
  const next: HostEmergency = same
    ? { ...current, failedUnits: line.failedUnits }
    : { since: now, target: line.target, boot: line.boot, failedUnits: line.failedUnits, fstab: [] };
  store.hosts.setEmergency(hostId, JSON.stringify(next));
  upsertFinding(store, hostId, hostName, next, now);
  if (!same) recordHostEvent(store, hostId, "emergency", now, { target: line.target, boot: line.boot, failedUnits: line.failedUnits });
  return !same;
}

/** An fstab line behind a failed mount, reported after the emergency line. Ignored when no emergency is known. */
export function applyEmergencyFstabLine(store: Store, hostId: number, hostName: string, line: EmergencyFstabLine, now: number): void {
  const current = readEmergency(store.hosts.findById(hostId)?.emergency ?? null);
  if (!current) return;
  if (current.fstab.some((f) => f.unit === line.unit && f.line === line.line) || current.fstab.length >= MAX_FSTAB_LINES) return;
  current.fstab.push({ unit: line.unit, line: line.line });
  store.hosts.setEmergency(hostId, JSON.stringify(current));
  upsertFinding(store, hostId, hostName, current, now);
}

/** The host's agent said hello: whatever boot is running now got past emergency mode. */
export function clearEmergency(store: Store, hostId: number, now: number): boolean {
  const current = readEmergency(store.hosts.findById(hostId)?.emergency ?? null);
  if (!current) return false;
  store.hosts.setEmergency(hostId, null);
  store.health.resolveFinding(hostId, HOST_EMERGENCY, current.target, now);
  recordHostEvent(store, hostId, "emergency-ended", now, { target: current.target, boot: current.boot, since: new Date(current.since).toISOString() });
  return true;
}
