/**
 * disk-space: free space on the filesystem of each disk a snapshot of the
 * step's mode writes to, against what the snapshot may need there. Internal
 * (the default): the VM's memory (a running VM's snapshot holds its RAM, in the
 * first disk's image) plus a fraction of each disk's capacity for the blocks
 * the guest rewrites while the snapshot is kept. disk-only-quiesce: no memory
 * is saved, so only that fraction, for the overlay next to each image.
 *
 * Free space is read by `stat -f` in a child process with a deadline, not by
 * fs.statfs: on a hung NFS mount statfs blocks in the kernel, and in Node it
 * would pin one of libuv's four threadpool threads for good (and with them
 * every later fs call of the agent). A child stuck like that is SIGKILLed and
 * abandoned by runTool, and the step fails with a timeout naming the file.
 *
 * For disk-only-quiesce it first checks that the agent can write each disk's
 * directory and image (../image-access.ts): the agent removes and merges the
 * overlays itself, and a sandbox that makes them read-only for it is refused
 * here, before any change, with NS_ERR_STEP_DISK_NOT_WRITABLE.
 */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { errorMessage } from "../../../shared/errors.js";
import { parseDomainDisks } from "../../libvirt/domain-xml.js";
import { runTool } from "../../probes/run-tool.js";
import { classifyDisk, snapshotability } from "../disk-classify.js";
import { StepError } from "../errors.js";
import { diskOnlyNeeds, requireWritable } from "../image-access.js";
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";

const STAT_TIMEOUT_MS = 10_000;

/** Bytes available to unprivileged writers (what QEMU, running as libvirt-qemu, can use) on the filesystem holding `file`. */
export async function availableBytes(file: string, vm: string, timeoutMs = STAT_TIMEOUT_MS): Promise<number> {
  // Our own deadline decides; runTool's is a backstop a little later, so "timed out" is told apart from "failed".
  const deadline = AbortSignal.timeout(timeoutMs);
  let out: { code: number; stdout: string; stderr: string };
  try {
    out = await runTool("stat", ["-f", "--format=%a %S", "--", file], { signal: deadline, timeoutMs: timeoutMs + 1_000 });
  } catch (err) {
    if (deadline.aborted) {
      throw new StepError(StepErrorCodes.TIMEOUT, `VM ${vm}: the filesystem of disk image ${file} did not answer \`stat -f\` within ` +
        `${timeoutMs} ms (a hung NFS or other network mount?); check it with \`timeout 5 stat -f ${file}\` on this host`, { cause: err });
    }
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: cannot measure free space for ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const match = /^(\d+) (\d+)$/.exec(out.stdout.trim());
  if (out.code !== 0 || !match) {
    throw new StepError(StepErrorCodes.FAILED, `VM ${vm}: \`stat -f ${file}\` failed (exit ${out.code}): ${(out.stderr || out.stdout).trim().slice(0, 500)}`);
  }
  return Number(match[1]) * Number(match[2]);
}

export const diskSpaceAction: StepHandler<"disk-space"> = {
  kind: "disk-space",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const mode = action.mode ?? "internal";
    const [state, info, xml] = await Promise.all([conn.domainGetState(dom), conn.domainGetInfo(dom), conn.domainGetXMLDesc(dom)]);
    // Only an internal snapshot of a VM with a running QEMU saves memory state.
    const memoryBytes = mode !== "internal" || state.state === "shutoff" || state.state === "crashed" ? 0 : info.memoryKiB * 1024;
    const disks = parseDomainDisks(xml).map(classifyDisk).filter((d) => snapshotability(d, mode).snapshotable && d.included);
    const result: { target: string; source: string; availableBytes: number; neededBytes: number }[] = [];
    const files: { target: string; source: string }[] = [];
    for (const disk of disks) {
      if (disk.type !== "file" || disk.source === null) {
        const pool = disk.source?.split("/")[0] ?? "?";
        throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: disk ${disk.target} is the storage-pool volume ${disk.source ?? "?"}; ` +
          `this agent measures free space for image files only: check the pool with \`virsh pool-info ${pool}\``);
      }
      files.push({ target: disk.target, source: disk.source });
    }
    // The agent itself removes a disk-only snapshot's overlays and merges them: found out here, not after a revert destroyed the VM.
    if (mode === "disk-only-quiesce") {
      await requireWritable(action.vm, diskOnlyNeeds(files), "a disk-only snapshot could not be rolled back or deleted, so none may be taken");
    }
    for (const [i, disk] of files.entries()) {
      const block = await conn.domainGetBlockInfo(dom, disk.target);
      result.push({
        target: disk.target,
        source: disk.source,
        availableBytes: await availableBytes(disk.source, action.vm),
        neededBytes: Math.ceil((i === 0 ? memoryBytes : 0) + action.headroomFraction * block.capacity),
      });
    }
    return { disks: result };
  },
};
