/**
 * The lines systemd/nightshift-emergency-report writes to /dev/kmsg when a
 * boot reaches emergency.target or rescue.target, as the kernel's netconsole
 * sends them (plain text, possibly behind a printk time stamp "[   12.345678] "):
 *
 *   nightshift-emergency: v1 host=HOST target=emergency.target boot=BOOT_ID failed=a.mount,b.service
 *   nightshift-emergency-fstab: v1 unit=srv-data.mount line=/dev/vdc /srv/data xfs defaults 0 2
 *
 * The first names the host (as its agent is configured), the target, the
 * boot and the failed units; each `-fstab` line is an fstab line behind a
 * failed mount unit, verbatim after `line=`. A line that is not one of these
 * is an ordinary console line (kept, not interpreted).
 */

export interface EmergencyLine {
  kind: "emergency";
  host: string;
  target: string;
  boot: string | null;
  failedUnits: string[];
}

export interface EmergencyFstabLine {
  kind: "fstab";
  unit: string;
  line: string;
}

const MAX_UNITS = 64;
const NAME = /^[A-Za-z0-9._@:\\-]{1,256}$/;

/** The report a console line carries, or null for an ordinary line (or a malformed report: never trusted half). */
export function parseConsoleLine(text: string): EmergencyLine | EmergencyFstabLine | null {
  const fstab = /(?:^|\s)nightshift-emergency-fstab: v1 unit=(\S+) line=(.+)$/.exec(text);
  if (fstab) {
    const [, unit, line] = fstab as unknown as [string, string, string];
    return NAME.test(unit) ? { kind: "fstab", unit, line: line.trim() } : null;
  }
  const m = /(?:^|\s)nightshift-emergency: v1 (.+)$/.exec(text);
  if (!m) return null;
  const fields = new Map<string, string>();
  for (const part of m[1]!.trim().split(/\s+/)) {
    const eq = part.indexOf("=");
    if (eq <= 0) return null;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const host = fields.get("host");
  const target = fields.get("target");
  if (!host || !NAME.test(host) || !target || !/^(emergency|rescue)\.target$/.test(target)) return null;
  const boot = fields.get("boot");
  const failed = (fields.get("failed") ?? "").split(",").filter((u) => u !== "");
  if (failed.length > MAX_UNITS || failed.some((u) => !NAME.test(u))) return null;
  return { kind: "emergency", host, target, boot: boot && /^[0-9a-f-]{32,36}$/.test(boot) ? boot : null, failedUnits: failed };
}
