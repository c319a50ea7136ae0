/**
 * Which snapshots are nightshift's, told by the agent itself: a controller
 * can be stolen, and "only nightshift's own snapshots are deleted" must not
 * rest on the controller's word. A snapshot is nightshift's when both hold:
 *
 * - its name is the one nightshift gives this VM for some run
 *   (shared/runs.ts snapshotName: `nightshift-<run id>-<vm>`, the run id of
 *   the controller's shape, shared/ids.ts RUN_ID_PATTERN), and
 * - its <description> begins with SNAPSHOT_MARKER, which this agent writes in
 *   front of the controller's description when it creates the snapshot.
 *
 * The name alone is not enough: an operator may well name a snapshot like
 * ours. The marker alone is not either: it is only text. Together they say
 * this agent made the snapshot for that VM in a run. Snapshots taken by agents
 * that did not write the marker yet are not nightshift's by this rule.
 */
import { RUN_ID_PATTERN } from "../../shared/ids.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import { snapshotName } from "../../shared/runs.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import type { SnapshotRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";
import { parseSnapshotXml } from "./external-snapshot-xml.js";

/** What begins the description of every snapshot this agent creates. */
export const SNAPSHOT_MARKER = "[nightshift-agent snapshot v1]";

/** The description a snapshot gets: the marker, then what the controller asked for. */
export function markedDescription(description: string): string {
  return description ? `${SNAPSHOT_MARKER} ${description}` : SNAPSHOT_MARKER;
}

export function hasMarker(description: string | null): boolean {
  return description !== null && (description === SNAPSHOT_MARKER || description.startsWith(`${SNAPSHOT_MARKER} `));
}

/** Null when `name` is the name nightshift gives VM `vm` in some run; else why not. */
export function snapshotNameRefusal(vm: string, name: string): string | null {
  const runId = /^nightshift-(\d{8}-\d{6}-[0-9a-f]{4})-/.exec(name)?.[1];
  if (runId !== undefined && RUN_ID_PATTERN.test(runId) && snapshotName(runId, vm) === name) return null;
  return `snapshot ${JSON.stringify(name)} is not named like a nightshift snapshot of VM ${vm} ` +
    `(${JSON.stringify(snapshotName("YYYYMMDD-HHMMSS-xxxx", vm))} with a run id)`;
}

/**
 * Throws NS_ERR_STEP_SNAPSHOT_NOT_OURS unless `name` could be nightshift's snapshot of `vm`; nothing is looked up.
 * `what` ends the message: "this agent does not <what>" ("delete it").
 */
export function requireOurName(vm: string, name: string, what: string): void {
  const refusal = snapshotNameRefusal(vm, name);
  if (refusal !== null) throw notOurs(vm, `${refusal}; this agent does not ${what}`);
}

/**
 * Throws NS_ERR_STEP_SNAPSHOT_NOT_OURS unless the snapshot is nightshift's by
 * both rules. Returns its XML, which the caller would read next anyway.
 */
export async function requireOurSnapshot(conn: LibvirtConnection, vm: string, snap: SnapshotRef, what: string): Promise<string> {
  requireOurName(vm, snap.name, what);
  const xml = await conn.domainSnapshotGetXMLDesc(snap);
  if (!hasMarker(parseSnapshotXml(xml).description)) {
    throw notOurs(vm, `snapshot ${snap.name} is named like nightshift's, but its description does not begin with ` +
      `${JSON.stringify(SNAPSHOT_MARKER)}, which this agent writes into every snapshot it takes: it was taken by someone else ` +
      `(or by an older agent), so this agent does not ${what}; use virsh for it`);
  }
  return xml;
}

function notOurs(vm: string, message: string): StepError {
  return new StepError(StepErrorCodes.SNAPSHOT_NOT_OURS, `VM ${vm}: ${message}`);
}
