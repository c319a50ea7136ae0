/**
 * The shapes the controller's JSON API returns and the CLI prints with
 * `--json`: one definition for both ends. Fields are added, never renamed.
 */
import type { Domain } from "./protocol/messages.js";
import type { Finding } from "./protocol/findings.js";

/** GET /v1/vms: an agent's inventory entry, with its host and when it was last updated. */
export interface VmRecord extends Omit<Domain, "id"> {
  host: string;
  updatedAt: string;
}

/** GET /v1/events */
export interface EventRecord {
  seq: number;
  id: string;
  time: string;
  receivedAt: string;
  host: string;
  kind: string;
  vm: string | null;
  uuid: string | null;
  event: string | null;
  detail: string | null;
  data: Record<string, unknown> | null;
}

/** GET /v1/findings answers this many findings per page unless `limit` says otherwise, and never more than the maximum. */
export const FINDINGS_PAGE_DEFAULT = 1000;
export const FINDINGS_PAGE_MAX = 10_000;

/** GET /v1/findings: a probe's finding, with where and since when. */
export interface FindingRecord extends Finding {
  host: string;
  source: "agent" | "controller";
  firstSeenAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
}

/** GET /v1/hosts: an enrolled hypervisor. */
export interface HostRecord {
  name: string;
  status: "enrolled" | "up" | "missing" | "revoked";
  connected: boolean;
  lastSeenAt: string | null;
  hostname: string | null;
  agentVersion: string | null;
  libvirtVersion: string | null;
  /** What the agent last said of its libvirt connection; null: it never said (not connected yet, or an older agent). */
  libvirt: HostLibvirtRecord | null;
  vms: number;
  enrolledAt: string | null;
  /** While the host's console (netconsole) says it is in emergency or rescue mode, until its agent connects again; else null. */
  emergency: HostEmergencyRecord | null;
}

export interface HostEmergencyRecord {
  since: string;
  /** emergency.target or rescue.target */
  target: string;
  boot: string | null;
  failedUnits: string[];
  /** The fstab lines behind failed mount units, as the host's emergency report gave them. */
  fstab: { unit: string; line: string }[];
}

/** GET /v1/hosts/:name/console: the host's last netconsole lines, oldest first (in the controller's memory). */
export interface ConsoleLineRecord {
  at: string;
  text: string;
}

export interface HostLibvirtRecord {
  state: "connected" | "unreachable";
  /** unreachable: the connect error's code, e.g. NS_ERR_LIBVIRT_SOCKET_MISSING; else null. */
  code: string | null;
  /** unreachable: the reason, e.g. "socket /var/run/libvirt/libvirt-sock missing (NS_ERR_LIBVIRT_SOCKET_MISSING)"; else null. */
  detail: string | null;
  since: string | null;
}

/** POST /v1/hosts: the host's token, shown this once. */
export interface EnrolledHostRecord {
  name: string;
  token: string;
  enrolledAt: string;
}

/** POST /v1/hosts/:name/revoke */
export interface RevokedHostRecord {
  name: string;
  status: "revoked";
  revokedAt: string;
}

/** GET /v1/status */
export interface StatusRecord {
  version: string;
  uptimeSeconds: number;
  hosts: { total: number; up: number; missing: number; enrolled: number; revoked: number };
  agentsConnected: number;
  vms: { total: number; byState: Record<string, number> };
  eventsStored: number;
}

/** POST /v1/vms/:name/expect-stop */
export interface ExpectedStopRecord {
  host: string;
  vm: string;
  reason: string;
  until: string;
  resolvedFinding: boolean;
}
