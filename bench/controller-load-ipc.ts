/**
 * Messages between bench/controller-load.ts (the driver) and
 * bench/load-agents.ts (the simulated fleet) over the child-process IPC
 * channel. Times are CLOCK_MONOTONIC milliseconds (`monoMs()`), which both
 * processes (and V8's .cpuprofile timestamps) share on Linux.
 */

export interface HostCredentials {
  name: string;
  token: string;
}

export interface AgentsConfig {
  /** ws://127.0.0.1:PORT/v1/agent */
  url: string;
  hosts: HostCredentials[];
  vmsPerAgent: number;
  eventsPerBatch: number;
  /** Unacked batches an agent may have outstanding. */
  inflight: number;
  /** Hostile agents (bench/load-poison.ts), left out of every figure and check but the poison report. */
  poison: PoisonConfig;
}

/**
 * What a poisoning agent sends while the honest ones stream: `duplicate-disk`, a VM with two disks
 * on target vda; `null-domain`, an inventory with a null entry. Each was, on a controller without
 * per-item checks for it, a store job that always failed.
 */
export type PoisonKind = "duplicate-disk" | "null-domain";

export interface PoisonConfig {
  hosts: HostCredentials[];
  kind: PoisonKind;
  /** Poisoned inventories each one keeps unanswered. */
  inflight: number;
}

/** What the poisoning agents sent and how the controller answered. */
export interface PoisonReport {
  sent: number;
  answered: number;
  /** `error` answers by code. */
  answers: Record<string, number>;
}

/** What the controller must end up holding for one VM. */
export interface ExpectedVm {
  host: string;
  name: string;
  uuid: string;
  disks: number;
  /** The state after the last lifecycle event this agent sent (or the inventory's). */
  state: string;
}

export interface ConnectReport {
  /** Just before the first connect. */
  t0: number;
  allOpenAt: number;
  allWelcomedAt: number;
  allInventoriesSentAt: number;
}

export interface StreamReport {
  windowStart: number;
  windowEnd: number;
  /** Acks received inside [windowStart, windowEnd]. */
  eventsAckedInWindow: number;
  batchesAckedInWindow: number;
  /** Every event acked, including those drained after the window closed. */
  eventsAckedTotal: number;
  /** Events acked in each whole second of the window, to show whether the rate is sustained. */
  perSecond: number[];
  eventsSent: number;
  drainedAt: number;
  /** Send-to-ack latency of batches, ms. */
  ackLatencyMs: { p50: number; p90: number; p99: number; max: number };
  poison: PoisonReport;
}

export type DriverMessage =
  | { type: "config"; config: AgentsConfig }
  | { type: "connect" }
  | { type: "stream"; seconds: number }
  | { type: "expected" }
  | { type: "close" };

export type AgentsMessage =
  | { type: "ready" }
  | { type: "connected"; report: ConnectReport }
  | { type: "window-start"; at: number }
  | { type: "window-end"; at: number }
  | { type: "streamed"; report: StreamReport }
  | { type: "expected"; vms: ExpectedVm[] }
  | { type: "closed" }
  /** Anything that means the controller lost, refused or broke something. Collected, never ignored. */
  | { type: "failure"; message: string };

/** CLOCK_MONOTONIC in ms, comparable across processes on one Linux machine. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
