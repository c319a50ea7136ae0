/**
 * The shapes the controller's JSON API returns and the CLI prints with
 * `--json`: one definition for both ends. Fields are added, never renamed.
 */
import type { DomainDisk } from "./protocol/messages.js";
import type { Severity } from "./protocol/findings.js";

/** GET /v1/vms */
export interface VmRecord {
  host: string;
  name: string;
  uuid: string;
  state: string;
  stateReason: string;
  autostart: boolean;
  persistent: boolean;
  vcpus: number;
  memoryKiB: number;
  maxMemoryKiB: number;
  disks: DomainDisk[];
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

/** GET /v1/findings */
export interface FindingRecord {
  host: string;
  code: string;
  severity: Severity;
  subject: string;
  message: string;
  remedy: string;
  probe: string;
  source: "agent" | "controller";
  firstSeenAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
}
