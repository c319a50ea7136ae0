/**
 * External disk-only snapshots with the guest quiesced (snapshot-create mode
 * `disk-only-quiesce`), and what reverting and deleting one means, since
 * libvirt 9.0 can do neither for external snapshots itself.
 *
 * - create: one qcow2 overlay per disk, `<disk>.<snapshot>.qcow2` next to the
 *   disk's image, flags DISK_ONLY | QUIESCE | ATOMIC: libvirt has the guest
 *   agent freeze the guest's filesystems around it, and a failure (no agent,
 *   no fsfreeze) leaves nothing behind. The VM goes on writing into the
 *   overlays; the images it had are the snapshot.
 * - revert: destroy the VM (its current state is the one being thrown away),
 *   point each disk back at its image, drop the overlays, start it, then drop
 *   the snapshot's metadata. Each step first looks whether it is done, so a
 *   revert repeated after a crash halfway finishes the job.
 * - delete (the VM keeps its current state): merge each overlay into its image
 *   (a running VM: an active, shallow block commit and a pivot; a VM that is
 *   off: `qemu-img commit`), point the definition at the image, drop the
 *   overlays, then the metadata. Idempotent in the same way.
 *
 * - discard (the VM is shut off and stays off; what it wrote since the
 *   snapshot is thrown away): point each disk back at its image, drop the
 *   overlays, then the metadata. For a VM a failed revert left off, or one an
 *   operator shut down to go back. Idempotent in the same way.
 *
 * Every one of them first checks that this agent can write what it will
 * remove or merge into (./image-access.ts): a sandbox that makes the image
 * directory read-only is refused before anything changes.
 *
 * One level only: a VM that already has an external snapshot cannot take
 * another (its overlay would stack on the first one's), so revert and delete
 * always deal with the active overlay.
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "../../shared/errors.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { parseDomainDisks } from "../libvirt/domain-xml.js";
import { LibvirtError } from "../libvirt/errors.js";
import { GuestAgent } from "../libvirt/guest-agent.js";
import {
  DomainBlockCommitFlags, DomainBlockJobAbortFlags, DomainBlockJobType, DomainSnapshotCreateFlags, DomainSnapshotDeleteFlags,
  DomainXmlFlags,
} from "../libvirt/protocol.js";
import type { DomainRef, SnapshotRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";
import { diskOnlyNeeds, requireWritable, type WriteNeed } from "./image-access.js";
import {
  checkOverlayName, diskOnlySnapshotXml, diskSourcesByTarget, externalDisks, isExternal, overlayPath, parseSnapshotXml, planDiskOnly,
  repointDisk, type ExternalDisk,
} from "./external-snapshot-xml.js";

/** How long the guest agent may take to say what it supports before the snapshot is refused. */
const AGENT_CHECK_MS = 10_000;
/** A block commit that makes no progress for this long is given up (the job is left for an operator to look at). */
const COMMIT_STALL_MS = 120_000;
const COMMIT_POLL_MS = 100;
/** `qemu-img commit` of a VM that is off. */
const QEMU_IMG_TIMEOUT_MS = 30 * 60_000;

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether the snapshot (by its XML) is an external one; such snapshots take the paths in this file. */
export async function snapshotIsExternal(conn: LibvirtConnection, snap: SnapshotRef): Promise<boolean> {
  return isExternal(parseSnapshotXml(await conn.domainSnapshotGetXMLDesc(snap)));
}

async function guestCanFreeze(conn: LibvirtConnection, dom: DomainRef): Promise<void> {
  const agent = new GuestAgent(conn, dom, Math.ceil(AGENT_CHECK_MS / 1000));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${AGENT_CHECK_MS} ms`)), AGENT_CHECK_MS);
  });
  let info: { supported_commands?: { name: string; enabled: boolean }[] };
  try {
    info = await Promise.race([agent.command<typeof info>("guest-info"), timeout]);
  } catch (err) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${dom.name}: the guest agent does not answer (${errorMessage(err)}), so the guest ` +
      "cannot be quiesced and no disk-only-quiesce snapshot was taken; start qemu-guest-agent in the guest (and give the domain " +
      "the org.qemu.guest_agent.0 channel), or use snapshot mode internal", { cause: err });
  } finally {
    clearTimeout(timer);
  }
  if (!info.supported_commands?.some((c) => c.name === "guest-fsfreeze-freeze")) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${dom.name}: the guest agent does not offer guest-fsfreeze-freeze, so the guest ` +
      "cannot be quiesced and no disk-only-quiesce snapshot was taken; use a guest agent with filesystem freeze support, or " +
      "snapshot mode internal");
  }
}

/** create, mode disk-only-quiesce. The caller has checked that no snapshot of that name exists. */
export async function createDiskOnlyQuiesce(conn: LibvirtConnection, dom: DomainRef, name: string, description: string): Promise<SnapshotRef> {
  const vm = dom.name;
  const badName = checkOverlayName(name);
  if (badName) throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: snapshot name ${JSON.stringify(name)} cannot name an overlay file: ${badName}`);
  const { state, reason } = await conn.domainGetState(dom);
  if (state !== "running") {
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm} is ${state} (${reason}): a disk-only-quiesce snapshot needs the running ` +
      "guest's agent to freeze its filesystems; start it first");
  }
  if (!(await conn.domainIsPersistent(dom))) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm} is transient: reverting a disk-only snapshot redefines the domain, ` +
      "which needs a persistent definition; define it (virsh define) first");
  }
  for (const other of await conn.domainListAllSnapshots(dom)) {
    if (await snapshotIsExternal(conn, other)) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${vm} already has the external snapshot ${other.name}; this agent keeps one ` +
        `level of overlay per disk, so delete ${other.name} (it is merged into the disks) before taking another`);
    }
  }
  const plans = parseDomainDisks(await conn.domainGetXMLDesc(dom)).map(planDiskOnly);
  const refused = plans.filter((p) => p.refusal !== null);
  if (refused.length > 0) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm} cannot take a disk-only snapshot: ` +
      refused.map((p) => `disk ${p.target}: ${p.refusal ?? ""}`).join("; "));
  }
  const included = plans.filter((p) => p.snapshot === "external");
  if (included.length === 0) throw new StepError(StepErrorCodes.FAILED, `VM ${vm} has no writable disk to snapshot`);
  for (const p of included) {
    const overlay = overlayPath(p.source ?? "", name);
    if (await exists(overlay)) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: the overlay file ${overlay} for disk ${p.target} already exists but belongs ` +
        "to no snapshot of this VM; remove it once you checked nothing uses it");
    }
  }
  // libvirt creates the overlays, but this agent removes them again (revert) and merges them (delete).
  await requireWritable(vm, diskOnlyNeeds(included.map((p) => ({ target: p.target, source: p.source ?? "" }))),
    "no disk-only snapshot was taken, as it could be neither rolled back nor deleted");
  await guestCanFreeze(conn, dom);
  const flags = DomainSnapshotCreateFlags.DISK_ONLY | DomainSnapshotCreateFlags.QUIESCE | DomainSnapshotCreateFlags.ATOMIC;
  try {
    return await conn.domainSnapshotCreateXML(dom, diskOnlySnapshotXml(name, description, plans), flags);
  } catch (err) {
    if (err instanceof LibvirtError && /agent|freeze|quiesce/i.test(err.message)) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: the guest could not be quiesced, so no snapshot was taken ` +
        `(libvirt: ${err.message}); check qemu-guest-agent in the guest, or use snapshot mode internal`, { cause: err });
    }
    throw err;
  }
}

async function definitions(conn: LibvirtConnection, dom: DomainRef): Promise<{ active: boolean; live: string | null; inactive: string }> {
  const active = await conn.domainIsActive(dom);
  return {
    active,
    live: active ? await conn.domainGetXMLDesc(dom) : null,
    inactive: await conn.domainGetXMLDesc(dom, DomainXmlFlags.INACTIVE),
  };
}

/** The persistent definition with every disk still on its overlay pointed back at its image; null when none is. */
function repointedDefinition(inactive: string, disks: ExternalDisk[]): string | null {
  const sources = diskSourcesByTarget(inactive);
  let xml = inactive;
  let changed = false;
  for (const d of disks) {
    if (sources.get(d.target) === d.original) continue;
    xml = repointDisk(xml, d.target, d.original, d.originalFormat);
    changed = true;
  }
  return changed ? xml : null;
}

/** The directories of the overlays still there: removing a file writes its directory. */
async function overlayRemovalNeeds(disks: ExternalDisk[]): Promise<WriteNeed[]> {
  const needs: WriteNeed[] = [];
  for (const d of disks) {
    if (!(await exists(d.overlay))) continue;
    needs.push({ path: path.dirname(d.overlay), what: `the directory of disk ${d.target}'s overlay ${d.overlay}`, directory: true });
  }
  return needs;
}

async function removeOverlays(disks: ExternalDisk[]): Promise<void> {
  for (const d of disks) await fs.rm(d.overlay, { force: true });
}

function snapshotDisks(vm: string, name: string, xml: string): ExternalDisk[] {
  try {
    return externalDisks(parseSnapshotXml(xml));
  } catch (err) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm}, snapshot ${name}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Checks that each disk is on this snapshot's overlay or back on its image, never on something else. */
function checkChain(vm: string, name: string, what: string, xml: string, disks: ExternalDisk[]): void {
  const sources = diskSourcesByTarget(xml);
  for (const d of disks) {
    const now = sources.get(d.target);
    if (now !== d.overlay && now !== d.original) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: disk ${d.target} of its ${what} definition uses ${now ?? "no file"}, ` +
        `neither snapshot ${name}'s overlay ${d.overlay} nor the image ${d.original} it had; sort the disk out by hand`);
    }
  }
}

/** revert to an external snapshot; the VM runs again afterwards. */
export async function revertExternal(conn: LibvirtConnection, dom: DomainRef, snap: SnapshotRef): Promise<void> {
  const vm = dom.name;
  const disks = snapshotDisks(vm, snap.name, await conn.domainSnapshotGetXMLDesc(snap));
  let defs = await definitions(conn, dom);
  checkChain(vm, snap.name, "persistent", defs.inactive, disks);
  // Before the VM is destroyed: a revert that cannot remove the overlays would leave it off, half reverted.
  await requireWritable(vm, await overlayRemovalNeeds(disks), `nothing was changed: the VM ${defs.live !== null ? "still runs" : "stays"} ` +
    "on the snapshot's overlays");
  if (defs.live !== null) {
    checkChain(vm, snap.name, "running", defs.live, disks);
    const live = diskSourcesByTarget(defs.live);
    // A VM that runs on its images already was reverted and started by an earlier attempt: leave it running.
    if (disks.some((d) => live.get(d.target) === d.overlay)) {
      await conn.domainDestroy(dom);
      defs = await definitions(conn, dom);
    }
  }
  const repointed = repointedDefinition(defs.inactive, disks);
  if (repointed !== null) await conn.domainDefineXML(repointed);
  await removeOverlays(disks);
  if (!(await conn.domainIsActive(dom))) await conn.domainCreate(dom);
  await conn.domainSnapshotDelete(snap, DomainSnapshotDeleteFlags.METADATA_ONLY);
}

/** Waits until the disk's active commit is ready to pivot (or gone), failing when it stops making progress. */
async function waitCommitReady(conn: LibvirtConnection, dom: DomainRef, target: string): Promise<void> {
  let last = -1;
  let lastMove = performance.now();
  for (;;) {
    const job = await conn.domainGetBlockJobInfo(dom, target);
    if (job === null) return;
    const type = DomainBlockJobType[job.type];
    if (type !== "active-commit" && type !== "commit") {
      throw new StepError(StepErrorCodes.FAILED, `VM ${dom.name}: disk ${target} runs a ${type ?? `type-${job.type}`} ` +
        "block job that is not this agent's commit; wait for it or abort it (virsh blockjob) first");
    }
    // libvirt reports cur == end only once an active commit is ready to pivot.
    if (job.end > 0 && job.cur === job.end) return;
    if (job.cur !== last) {
      last = job.cur;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > COMMIT_STALL_MS) {
      throw new StepError(StepErrorCodes.TIMEOUT, `VM ${dom.name}: the block commit of disk ${target} made no progress for ` +
        `${COMMIT_STALL_MS / 1000} s (at ${job.cur} of ${job.end} bytes); it was left running, see virsh blockjob ${dom.name} ${target}`);
    }
    await sleep(COMMIT_POLL_MS);
  }
}

/** Merges the overlay of a running VM's disk into its image and switches the disk back to the image. */
async function commitRunning(conn: LibvirtConnection, dom: DomainRef, d: ExternalDisk): Promise<void> {
  const deadline = performance.now() + COMMIT_STALL_MS;
  for (;;) {
    const live = diskSourcesByTarget(await conn.domainGetXMLDesc(dom)).get(d.target);
    const job = await conn.domainGetBlockJobInfo(dom, d.target);
    if (job === null) {
      if (live === d.original) return;
      // ACTIVE: the overlay is the image QEMU writes to. SHALLOW: into its backing file only, the image the
      // disk had, even when that image has a backing chain of its own.
      await conn.domainBlockCommit(dom, { disk: d.target, base: null, top: null, bandwidth: 0,
        flags: DomainBlockCommitFlags.ACTIVE | DomainBlockCommitFlags.SHALLOW });
    }
    await waitCommitReady(conn, dom, d.target);
    try {
      await conn.domainBlockJobAbort(dom, d.target, DomainBlockJobAbortFlags.PIVOT);
    } catch (err) {
      // "not ready for pivot yet": the job's progress caught up before QEMU said ready.
      if (!(err instanceof LibvirtError) || performance.now() > deadline) throw err;
      await sleep(COMMIT_POLL_MS);
    }
  }
}

function qemuImgCommit(overlay: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("qemu-img", ["commit", "-q", "-f", "qcow2", overlay], { timeout: QEMU_IMG_TIMEOUT_MS, killSignal: "SIGKILL" },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`qemu-img commit -f qcow2 ${overlay} failed: ${err.message.split("\n")[0] ?? ""} ${stderr}`.trim()));
        else resolve();
      });
  });
}

/** delete of an external snapshot: the VM keeps its current state, merged into its images. */
export async function deleteExternal(conn: LibvirtConnection, dom: DomainRef, snap: SnapshotRef): Promise<void> {
  const vm = dom.name;
  const disks = snapshotDisks(vm, snap.name, await conn.domainSnapshotGetXMLDesc(snap));
  const defs = await definitions(conn, dom);
  checkChain(vm, snap.name, "persistent", defs.inactive, disks);
  // A VM that is off is merged by qemu-img here, into its images; either way the overlays are removed here.
  const onOverlay = diskSourcesByTarget(defs.inactive);
  const images = defs.live !== null ? [] : disks.filter((d) => onOverlay.get(d.target) === d.overlay)
    .map((d) => ({ path: d.original, what: `disk ${d.target}'s image (its overlay is merged into it)`, directory: false }));
  await requireWritable(vm, [...await overlayRemovalNeeds(disks), ...images], "nothing was merged or removed");
  if (defs.live !== null) {
    checkChain(vm, snap.name, "running", defs.live, disks);
    for (const d of disks) await commitRunning(conn, dom, d);
  } else {
    const sources = diskSourcesByTarget(defs.inactive);
    for (const d of disks) {
      if (sources.get(d.target) !== d.overlay) continue;
      if (!(await exists(d.overlay))) {
        throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: disk ${d.target} is defined on ${d.overlay}, which is missing; ` +
          "its changes since the snapshot cannot be merged: sort the disk out by hand");
      }
      try {
        await qemuImgCommit(d.overlay);
      } catch (err) {
        throw new StepError(StepErrorCodes.FAILED, `VM ${vm}, disk ${d.target}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }
  // libvirt updates the persistent definition itself after a pivot; a VM that was off needs it here.
  const inactive = await conn.domainGetXMLDesc(dom, DomainXmlFlags.INACTIVE);
  const repointed = repointedDefinition(inactive, disks);
  if (repointed !== null) await conn.domainDefineXML(repointed);
  await removeOverlays(disks);
  await conn.domainSnapshotDelete(snap, DomainSnapshotDeleteFlags.METADATA_ONLY);
}

/** discard of an external snapshot: the disks go back to the images they had, the overlays go; the VM must be off. */
export async function discardExternal(conn: LibvirtConnection, dom: DomainRef, snap: SnapshotRef): Promise<void> {
  const vm = dom.name;
  const disks = snapshotDisks(vm, snap.name, await conn.domainSnapshotGetXMLDesc(snap));
  const { state, reason } = await conn.domainGetState(dom);
  if (state !== "shutoff") {
    throw new StepError(StepErrorCodes.VM_NOT_SHUT_OFF, `VM ${vm} is ${state} (${reason}): discarding snapshot ${snap.name} throws away ` +
      "what the VM wrote since it was taken and puts its disks back on the images they had, which a VM that runs on the overlays " +
      `cannot have done to it; nothing was changed. Shut it off first (virsh shutdown ${vm}, or virsh destroy ${vm}), or merge the ` +
      "snapshot instead (the VM keeps its current state)");
  }
  const inactive = await conn.domainGetXMLDesc(dom, DomainXmlFlags.INACTIVE);
  checkChain(vm, snap.name, "persistent", inactive, disks);
  await requireWritable(vm, await overlayRemovalNeeds(disks), "nothing was discarded");
  const repointed = repointedDefinition(inactive, disks);
  if (repointed !== null) await conn.domainDefineXML(repointed);
  await removeOverlays(disks);
  await conn.domainSnapshotDelete(snap, DomainSnapshotDeleteFlags.METADATA_ONLY);
}
