/**
 * The contract of a probe: one file per probe under agent/probes/, listed once
 * in agent/probes/index.ts. The runner (runner.ts) gives each a timeout and
 * records its duration and outcome; a probe that throws or times out never
 * stops the others. A probe with a fact names its spec (shared/facts/) as
 * `fact`; the report carries what it returns under `facts.<probe name>`.
 */
import type { Finding } from "../../shared/protocol/findings.js";
import type { FactSpec } from "../../shared/facts/spec.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import type { HostCommands } from "./commands.js";
import type { HostRoot } from "./host-root.js";
import type { ProbeSettings } from "./settings.js";
import type { Logger } from "../../shared/logging.js";
import type { NetconsoleStatus } from "../netconsole/pointer.js";

export interface ProbeContext {
  /** Host paths go through this, so fixture trees can stand in for / in tests. */
  root: HostRoot;
  /** Host commands go through this: this host's tools, or a host tree's recordings (commands.ts). */
  commands: HostCommands;
  settings: ProbeSettings;
  /** A live libvirt connection, or null (`check` without libvirt, fixture runs). */
  libvirt: LibvirtConnection | null;
  /** Aborted when the probe's timeout expires: stop work, kill children. */
  signal: AbortSignal;
  /**
   * When that happens, on the performance.now() clock (set by the runner): a
   * probe with stages can end one in time to report what it has, rather
   * than lose everything to the timeout. Absent: settings.probeTimeout from now.
   */
  deadline?: number;
  log: Logger;
  now(): Date;
  /**
   * The agent daemon's netconsole setup, refreshed before this run (agent/netconsole/);
   * absent outside the daemon (`check`, fixture runs): it follows the connection to the controller.
   */
  netconsole?: NetconsoleStatus;
}

/** A finding before the runner stamps the probe's name on it. */
export type ProbeFinding = Omit<Finding, "probe">;

export interface ProbeOutput<F = never> {
  /** "not-applicable": nothing to look at on this host (no systemd, no libvirt); not a failure. */
  status: "ok" | "not-applicable";
  /** Why it was not applicable, or a note. */
  detail?: string;
  findings: ProbeFinding[];
  /** The probe's fact, of the probe's `fact` spec; absent: none this run. */
  fact?: F;
}

export interface Probe<F = never> {
  name: string;
  description: string;
  defaultEnabled: boolean;
  /** Overrides settings.probeTimeout (ms) for this probe. */
  timeoutMs?: number;
  /** The fact it reports: the registry's spec under the probe's name (shared/facts/index.ts). */
  fact?: FactSpec<F>;
  collect(ctx: ProbeContext): Promise<ProbeOutput<F>>;
}

/** A probe of any fact (or none): what registries and the runner hold. */
export type AnyProbe = Probe<unknown>;
